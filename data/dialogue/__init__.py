"""The `shapes_dialogue` dataset: importing `data.dialogue.builder` registers the TFDS builder `shapes_dialogue`.

`generate` writes conversations without TFDS, holds their templates and scores replies (`reply_reward`).
"""

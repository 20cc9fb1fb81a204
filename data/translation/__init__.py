"""The `translation_pairs` dataset: importing `data.translation.builder` registers the TFDS builder `translation_pairs`.

`generate` writes sentence pairs without TFDS and holds the grammar, word lists and inflections.
"""

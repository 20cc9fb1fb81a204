"""The `reviews` dataset: importing `data.reviews.builder` registers the TFDS builder `reviews`.

`generate` writes reviews without TFDS and holds the word lists and templates.
"""

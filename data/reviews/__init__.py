"""The `reviews` dataset: importing this package registers the TFDS builder `reviews`.

`generate` writes reviews without TFDS and holds the word lists and templates.
"""

from data.reviews.builder import Reviews, ReviewsConfig

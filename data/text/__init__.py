"""Text input: tokenizers and vocabularies (`tokenizers`), labelled-text sources (`sources`) and batching.

See `data.text.batching` for how encoded texts become padded batches whose length follows the
batch's longest text, and `data.reviews` for the offline default dataset.
"""

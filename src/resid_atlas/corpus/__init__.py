"""Corpus stage: download of the reference dataset, validation against the grid rules,
ingest with the train/test split, the per-pair summary and its findings. Outputs: docs/corpus.md."""

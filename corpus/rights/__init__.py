"""Rights and erasure: answering "is this document in the run?" and forgetting documents on request."""

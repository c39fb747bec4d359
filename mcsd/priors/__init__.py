"""The priors: the frozen model (``model``), the distribution registry (``distributions``),
the loader and its validation (``loader``)."""

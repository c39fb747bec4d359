"""The engine: priors compiled to kernel arrays (``arrays``), the one executor over chunks,
threads and seeds (``executor``), and the same contract on a Dask cluster (``distributed``)."""

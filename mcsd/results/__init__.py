"""What is measured: accumulators merged by ``+=`` (``accumulators``), histogram bins
(``histograms``), the registry of result variables (``variables``), the Dataset builder
(``dataset``), provenance (``provenance``) and netCDF IO (``io``)."""

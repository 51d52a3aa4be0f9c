"""The fit cache: keys (fingerprints of params and data), the store of finished fits and atomic writes."""

"""The scikit-learn face: estimator bases, the built-in networks' estimators and the custom-module contract."""

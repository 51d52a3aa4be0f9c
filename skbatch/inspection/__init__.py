"""Looking at results: search reports, batch-size studies, plots and progress bars."""

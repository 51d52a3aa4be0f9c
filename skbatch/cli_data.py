"""The ``skbatch search`` command's data: read a table, check it, split off the target, build the preprocessing.

Every problem found here is a :class:`CommandLineError`, which the command
prints as one line: a batch job's log is read with ``grep`` and ``tail``.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

__all__ = ["CommandLineError", "read_table", "split_target", "make_preprocessing"]

_PARQUET_SUFFIXES = {".parquet", ".pq"}


class CommandLineError(Exception):
    """A problem with the command line or its input, reported to the user as one line."""


def _names(names, limit=10):
    names = [str(n) for n in names]
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _csv_header(path):
    """The first row of a CSV file as written: pandas renames duplicates (``label.1``) and blanks (``Unnamed: 0``)."""
    try:
        first = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.EmptyDataError):
        return None  # the full read below says what is wrong
    return [str(v).strip() for v in first.iloc[0]] if len(first) else None


def read_table(path, *, say=None):
    """Read a CSV file, or a Parquet file (``.parquet``, ``.pq``; needs pyarrow), into a DataFrame.

    A CSV whose first column has no name is a row index written by
    ``DataFrame.to_csv`` without ``index=False``: it is dropped, and
    ``say`` (a function taking one line) is told so. Any other column
    without a name, and any name given to two columns, is refused: pandas
    would rename them (``Unnamed: 3``, ``label.1``) and train on the copy.

    Raises
    ------
    CommandLineError
        If the file is missing, empty, unreadable, Parquet without pyarrow,
        or has duplicated or (past the first) blank column names.
    """
    path = Path(path)
    if not path.is_file():
        raise CommandLineError(f"data file {str(path)!r} does not exist or is not a file")
    parquet = path.suffix.lower() in _PARQUET_SUFFIXES
    kind = "Parquet" if parquet else "CSV"
    try:
        table = pd.read_parquet(path) if parquet else pd.read_csv(path)
    except ImportError:
        raise CommandLineError(
            f"reading the Parquet file {str(path)!r} needs pyarrow, which is not installed: "
            "pip install 'skbatch[parquet]' (or save the data as CSV)"
        ) from None
    except pd.errors.EmptyDataError:
        raise CommandLineError(f"data file {str(path)!r} is empty") from None
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        # pandas' ParserError and pyarrow's ArrowInvalid are ValueErrors.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CommandLineError(f"cannot read {str(path)!r} as {kind}: {reason}") from None
    header = [str(c) for c in table.columns] if parquet else _csv_header(path)
    if header is not None and len(header) == table.shape[1]:
        duplicated = sorted({name for name in header if header.count(name) > 1 and name})
        if duplicated:
            raise CommandLineError(
                f"data file {str(path)!r} has duplicated column names: {_names(duplicated)}; give each column its own name"
            )
        blank = [i for i, name in enumerate(header) if not name]
        if blank and blank[0] == 0:
            # The index that DataFrame.to_csv writes by default: row labels, not a feature.
            table = table.drop(columns=table.columns[0])
            blank = blank[1:]
            if say is not None:
                say(f"the first column of {path.name} has no name: read as the row index and not used as a feature")
        if blank:
            raise CommandLineError(
                f"data file {str(path)!r} has columns without a name (columns {_names([i + 1 for i in blank])}); name them or drop them"
            )
    if table.empty:
        raise CommandLineError(f"data file {str(path)!r} has no rows")
    return table


def _is_categorical(column):
    return not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def _labels(values, limit=3):
    text = ", ".join(repr(v) for v in values[:limit])
    return text + (", ..." if len(values) > limit else "")


def split_target(table, target, source="the data"):
    """Return ``(X, y)``: the feature columns and the ``target`` column.

    Numeric columns are features as they are; text, categorical and boolean
    columns are one-hot encoded by :func:`make_preprocessing`. Whether ``y``
    suits the task (class labels, or numbers) is checked by
    :func:`skbatch.cli_task.choose_task`, which chooses the task.

    Raises
    ------
    CommandLineError
        If the target column is missing or has missing values, or a numeric
        feature column has missing or infinite values.
    """
    if target not in table.columns:
        columns = ", ".join(map(str, table.columns[:20])) + (", ..." if len(table.columns) > 20 else "")
        raise CommandLineError(f"target column {target!r} is not in {source}; its columns are: {columns}")
    y = table[target]
    X = table.drop(columns=[target])
    if X.shape[1] == 0:
        raise CommandLineError(f"{source} has no feature columns besides the target {target!r}")
    if y.isna().any():
        raise CommandLineError(f"target column {target!r} has {int(y.isna().sum())} missing values; drop those rows first")
    numeric = [c for c in X.columns if not _is_categorical(X[c])]
    missing = [c for c in numeric if X[c].isna().any()]
    if missing:
        raise CommandLineError(f"feature columns have missing values: {_names(missing)}; impute or drop them first")
    infinite = [c for c in numeric if np.isinf(X[c].to_numpy(dtype=float)).any()]
    if infinite:
        raise CommandLineError(f"feature columns have infinite values: {_names(infinite)}; replace or drop those rows first")
    return X, y


def categorical_columns(X):
    """The columns :func:`make_preprocessing` one-hot encodes: text, categorical and boolean."""
    return [c for c in X.columns if _is_categorical(X[c])]


def make_preprocessing(X):
    """A transformer for ``X``'s columns, fitted inside each fold so no statistics cross folds.

    Numeric columns are standardised. Text, categorical and boolean
    columns are one-hot encoded; a category first seen in a test fold
    becomes all zeros (``handle_unknown='ignore'``), and a missing value
    is a category of its own.
    """
    categorical = categorical_columns(X)
    numeric = [c for c in X.columns if c not in categorical]
    if not categorical:
        return StandardScaler()
    transformers = [("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical)]
    if numeric:
        transformers.insert(0, ("numeric", StandardScaler(), numeric))
    # Dense output: the network takes arrays, and a sparse matrix would only be densified per fit.
    return ColumnTransformer(transformers, sparse_threshold=0.0)

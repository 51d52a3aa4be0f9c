"""Link each public estimator and search in scikit-learn's HTML repr to its page of the API reference.

scikit-learn's repr asks an estimator for ``_get_doc_link()``; the default
answer is empty for classes outside ``sklearn``. The page names are the ones
``docs/conf.py`` has autosummary write: ``generated/skbatch.<Name>.html``.
"""

import skbatch

__all__ = ["DOCS_URL", "DocLinkMixin", "api_page"]

# Where the built site (``make docs``) is published; ``{version}`` is
# ``latest`` for a development version and the release otherwise.
DOCS_URL = "https://skbatch.readthedocs.io/en/{version}/"


def api_page(name):
    """The path of the API page that ``docs/conf.py`` writes for ``skbatch.<name>``, relative to the site."""
    return f"generated/skbatch.{name}.html"


class DocLinkMixin:
    """Give scikit-learn's HTML repr a link to the class's API page; put it before ``BaseEstimator``.

    Only classes exported by ``skbatch`` have a page, so only they get a
    link: a private class or a user's subclass gets none (an empty string,
    as scikit-learn gives classes it does not document) rather than a link
    that goes nowhere.
    """

    _doc_link_module = "skbatch"

    @property
    def _doc_link_template(self):
        version = "latest" if ".dev" in skbatch.__version__ else skbatch.__version__
        return DOCS_URL.format(version=version) + "{page}"

    def _doc_link_url_param_generator(self):
        return {"page": api_page(type(self).__name__)}

    def _get_doc_link(self):
        name = type(self).__name__
        # FusedBayesSearchCV is exported lazily (it imports scikit-optimize), so it is
        # named in __all__ without being an attribute until first use.
        if name not in skbatch.__all__ or getattr(skbatch, name, None) is not type(self):
            return ""
        return super()._get_doc_link()

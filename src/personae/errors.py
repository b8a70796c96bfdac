"""Errors raised by personae.

Every error is a :class:`PersonaeError`; each message names the input, what is wrong and
how to fix it. The CLI turns them into one-line messages, the server into HTTP statuses.

    PersonaeError
    ├── ConfigError (ValueError)        personae.toml is missing, malformed or invalid
    ├── WorkspaceError                  the workspace folder is missing or not initialised
    ├── StoreLockedError                another process holds the store for writing
    ├── InvalidRule (ValueError)        a segment rule does not parse or uses what rules may not
    ├── SegmentationError               a core segmentation is not exhaustive and exclusive
    ├── EngineError                     SQL failed on an engine (carries the SQL)
    │   └── UnsupportedFeature          the engine lacks a feature the step needs
    ├── ModelFitError                   a CLV model cannot be fitted, applied or restored
    ├── InvalidMessage (ValueError)     a tracking API request body is refused (HTTP 400/413/415)
    └── SourceError                     a source cannot be read at all
        ├── SourceNotFound (FileNotFoundError)
        ├── MappingError (ValueError)   a mapping names a column the source does not have
        └── SourceUnreachable (ConnectionError)   a database source cannot be reached
"""

from __future__ import annotations


class PersonaeError(Exception):
    """Root of every error personae raises on purpose."""


class ConfigError(ValueError, PersonaeError):
    """``personae.toml`` is missing, malformed or invalid."""


class WorkspaceError(PersonaeError):
    """The workspace folder is missing or not initialised."""


class StoreLockedError(PersonaeError):
    """Another process holds the workspace store for writing."""


class InvalidRule(ValueError, PersonaeError):
    """A segment rule does not parse, or uses something the rule language does not allow."""


class SegmentationError(PersonaeError):
    """A core segmentation leaves people out or puts them in two segments (names the UIDs)."""


class EngineError(PersonaeError):
    """A SQL statement failed on an engine."""

    def __init__(self, message: str, sql: str | None = None) -> None:
        super().__init__(message)
        self.sql = sql


class UnsupportedFeature(EngineError):
    """The engine lacks a feature that a step needs (declared in engine/dialects.py)."""


class ModelFitError(PersonaeError):
    """A CLV model cannot be fitted, applied to its inputs, or restored from a file.

    Raised for too little data, NaN or negative inputs, an optimiser that did not converge
    and a singular fit; the message names the input or quotes the optimiser.
    """


class SourceError(PersonaeError):
    """A source cannot be read at all (bad rows are quarantined, not raised)."""


class SourceNotFound(FileNotFoundError, SourceError):
    """A source's path matches no file."""


class MappingError(ValueError, SourceError):
    """A column mapping names a column the source does not have."""


class SourceUnreachable(ConnectionError, SourceError):
    """A database source cannot be reached."""


class InvalidMessage(ValueError, PersonaeError):
    """A tracking API request body is refused; nothing of the request is kept.

    ``status`` is the HTTP status the server answers: 400 (malformed or invalid), 413 (over
    a size limit, or a gzip body that inflates past it), 415 (a content encoding other than
    gzip). ``index`` is the position of the offending message in a batch (``None`` for the
    body as a whole). The message names the message, the field or limit, and the fix.
    """

    def __init__(self, message: str, *, status: int = 400, index: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.index = index

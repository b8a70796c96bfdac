"""Errors raised by personae.

Every error is a :class:`PersonaeError`; each message names the input, what is wrong and
how to fix it. The CLI turns them into one-line messages (exit 2), the server into HTTP
statuses; both do it in one place. A test walks this tree and checks that every class is
drawn here and is raised by something a user can do.

    PersonaeError
    ├── ConfigError (ValueError)        personae.toml is missing, malformed or invalid
    │   └── FuzzySettingsError          fuzzy-matching settings or arguments are invalid
    ├── UsageError (ValueError)         a command or call got an argument it cannot use
    ├── WorkspaceError                  the workspace folder is missing, not initialised or not writable
    │   └── StoreVersionError           the store's schema is newer than this personae, or not migrated yet
    ├── StoreLockedError                another process holds the store for writing
    ├── InvalidRule (ValueError)        a segment rule does not parse or uses what rules may not
    ├── SegmentationError               a core segmentation is not exhaustive and exclusive
    ├── NotFound (LookupError)          what was asked for is not in the store
    │   ├── PersonNotFound              no person holds the identifier asked for
    │   └── NothingToExplain            a record to explain is not in the store
    ├── EngineError                     SQL failed on an engine (carries the SQL)
    │   └── UnsupportedFeature          the engine lacks a feature the step needs
    ├── ModelFitError                   a model cannot be fitted, applied or restored
    ├── FuzzyError                      probabilistic record matching cannot go on
    │   ├── FuzzyInputError (ValueError)    the records given to the matcher are unusable
    │   ├── FuzzyTrainingError              too few or too uniform records to learn from
    │   └── FuzzyModelError                 the matcher is not fitted, or its file unreadable
    │       └── FuzzyModelOutdated          a saved model was written by an older personae
    ├── SourceError                     a source cannot be read at all
    │   ├── SourceNotFound (FileNotFoundError)
    │   ├── MappingError (ValueError)   a mapping names a column the source does not have
    │   └── SourceUnreachable (ConnectionError)   a database source cannot be reached
    ├── InvalidMessage (ValueError)     a tracking API request body is refused (HTTP 400/413/415)
    ├── JournalError                    the event journal cannot store (disk full, read-only, closed)
    ├── JournalBusy                     too many bytes wait for a commit; nothing stored, retry later
    ├── InvalidRecord (ValueError)      a journal record is not one line holding a JSON object
    └── DestinationError                a destination refuses what is sent (wrong schema, bad answer)
        └── DestinationUnreachable (ConnectionError)   it did not answer, after every retry
"""

from __future__ import annotations


class PersonaeError(Exception):
    """Root of every error personae raises on purpose."""

    step: str | None = None
    """The run's step it stopped (set by the pipeline), so a user of a long run learns where."""


class ConfigError(ValueError, PersonaeError):
    """``personae.toml`` is missing, malformed or invalid."""


class FuzzySettingsError(ConfigError):
    """Fuzzy-matching settings or matcher arguments are invalid (names the field and the fix)."""


class UsageError(ValueError, PersonaeError):
    """A command or a call got an argument it cannot use (an unknown step, an empty query, ...)."""


class WorkspaceError(PersonaeError):
    """The workspace folder is missing, not initialised, or cannot be written."""


class StoreVersionError(WorkspaceError):
    """The store's schema version is newer than this personae knows (names both versions), or
    older and not migrated yet by a command that only reads (names ``personae migrate``)."""


class StoreLockedError(PersonaeError):
    """Another process holds the workspace store for writing."""


class InvalidRule(ValueError, PersonaeError):
    """A segment rule does not parse, or uses something the rule language does not allow."""


class SegmentationError(PersonaeError):
    """A core segmentation leaves people out or puts them in two segments (names the UIDs)."""


class NotFound(LookupError, PersonaeError):
    """What was asked for is not in the store."""


class PersonNotFound(NotFound):
    """No person holds the identifier asked for."""


class NothingToExplain(NotFound):
    """A customer record to explain a match for is not in the store."""


class EngineError(PersonaeError):
    """A SQL statement failed on an engine."""

    def __init__(self, message: str, sql: str | None = None) -> None:
        super().__init__(message)
        self.sql = sql


class UnsupportedFeature(EngineError):
    """The engine lacks a feature that a step needs (declared in engine/dialects.py)."""


class ModelFitError(PersonaeError):
    """A model cannot be fitted, applied to its inputs, or restored from a file.

    Raised for too little data, NaN or negative inputs, an optimiser that did not converge
    and a singular fit; the message names the input or quotes the optimiser.
    """


class FuzzyError(PersonaeError):
    """Probabilistic record matching cannot go on."""


class FuzzyInputError(ValueError, FuzzyError):
    """The records given to the fuzzy matcher are unusable (names the column and the fix)."""


class FuzzyTrainingError(FuzzyError):
    """The records are too few or too uniform to learn a matching model from."""


class FuzzyModelError(FuzzyError):
    """The matcher is not fitted, or a saved model cannot be read."""


class FuzzyModelOutdated(FuzzyModelError):
    """A saved model was written by an older personae, whose comparisons differ: fit again."""


class SourceError(PersonaeError):
    """A source cannot be read at all (bad rows are quarantined, not raised)."""


class SourceNotFound(FileNotFoundError, SourceError):
    """A source's path matches no file."""


class MappingError(ValueError, SourceError):
    """A column mapping names a column the source does not have."""


class SourceUnreachable(ConnectionError, SourceError):
    """A database source cannot be reached."""


class JournalError(PersonaeError):
    """The event journal cannot store records: its disk is full, its folder read-only or it is closed.

    Nothing of the failed append was acknowledged; the message names the path and the fix.
    """


class JournalBusy(PersonaeError):
    """Too many bytes already wait for a journal commit; the append was refused, not queued."""


class InvalidRecord(ValueError, PersonaeError):
    """A journal record is not one line holding a JSON object (or an append is larger than the bound)."""


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


class DestinationError(PersonaeError):
    """A destination refuses what is sent, or is set up so it cannot take it (names the
    destination and the fix); its cursor does not move."""


class DestinationUnreachable(DestinationError, ConnectionError):
    """A destination did not answer, after every retry; its changes wait for the next sync."""

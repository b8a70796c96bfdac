"""personae: one view of every customer, and segments every system can use."""

from personae.config import WorkspaceConfig, load_config
from personae.errors import PersonaeError
from personae.sources.specs import SourceSpec
from personae.status import WorkspaceStatus
from personae.workspace import RunReport, Workspace

__version__ = "0.1.0"

__all__ = [
    "PersonaeError",
    "RunReport",
    "SourceSpec",
    "Workspace",
    "WorkspaceConfig",
    "WorkspaceStatus",
    "__version__",
    "load_config",
]

"""The workspace's activation verbs: sync the destinations and see them, preview next actions,
report experiments. A part of :class:`personae.Workspace` (which inherits them), kept apart so
the core object's module stays readable."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from personae.config import WorkspaceConfig
from personae.engine.base import Engine
from personae.errors import UsageError
from personae.progress import Progress, silent
from personae.spec import did_you_mean

if TYPE_CHECKING:
    from personae.activation.actions import ActionPreview
    from personae.activation.delivery import SyncResult
    from personae.activation.experiments import ExperimentReport, Outcome
    from personae.activation.state import DestinationStatus


class _Workspace(Protocol):
    """What the verbs use of the workspace."""

    root: Path
    env: Mapping[str, str]
    config: WorkspaceConfig
    engine_name: str

    @property
    def is_open(self) -> bool: ...

    def engine(self, *, write: bool, name: str | None = None) -> AbstractContextManager[Engine]: ...

    def write_turn(self) -> AbstractContextManager[object]: ...

    def _no_store(self, engine: str) -> bool: ...

    def _destination_specs(self, name: str | None) -> list[Any]: ...


class ActivationVerbs:
    def _destination_specs(self: _Workspace, name: str | None) -> list[Any]:
        specs = list(self.config.destinations)
        if name is None:
            return specs
        chosen = [spec for spec in specs if spec.name == name]
        if not chosen:
            names = [spec.name for spec in specs]
            raise UsageError(
                f"no destination named {name!r}{did_you_mean(name, names)}; "
                f"destinations are {', '.join(names) or 'none (declare [[destinations]] in personae.toml)'}"
            )
        return chosen

    def sync(self: _Workspace, destination: str | None = None, *, progress: Progress | None = None) -> list[SyncResult]:
        """Send every destination (or the one named) the changes since its cursors."""
        from personae.activation.delivery import sync_destination
        from personae.activation.destination import DeliveryContext
        from personae.activation.kinds import make_destination

        specs = self._destination_specs(destination)
        delivery = DeliveryContext(self.root, self.env)
        results = []
        held = self.is_open  # in the server: only the commits take the write turn
        with self.engine(write=not held) as store:
            for spec in specs:
                now = datetime.now(UTC).replace(tzinfo=None)
                made = make_destination(spec, delivery)
                purpose = self.config.privacy.served(spec.purpose)
                results.append(
                    sync_destination(store, spec, made, now, progress or silent, self.write_turn, purpose=purpose)
                )
        return results

    def destinations(self: _Workspace) -> list[DestinationStatus]:
        """Each destination's last sync, counts and lag behind the change feed."""
        from personae.activation.state import destination_status

        specs = self._destination_specs(None)
        if not specs or self._no_store(self.engine_name):
            from personae.activation.state import DestinationStatus, SyncState

            return [
                DestinationStatus(SyncState(s.name, s.kind, 0, None, "never", "", 0, 0, 0), s.mode, 0, None)
                for s in specs
            ]
        with self.engine(write=False) as store:
            return [destination_status(store, spec) for spec in specs]

    def dead_letters(self: _Workspace, destination: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """The changes a destination refused for good, newest first, with the reason."""
        from personae.activation.state import dead_letters

        (spec,) = self._destination_specs(destination)
        if self._no_store(self.engine_name):
            return []
        with self.engine(write=False) as store:
            return dead_letters(store, spec.name, limit)

    def preview_actions(self: _Workspace, *, sample: int = 10) -> ActionPreview:
        """``next_actions`` in brief: people per channel and action (treated, held out) and a sample."""
        from personae.activation.actions import preview_actions

        with self.engine(write=False) as store:
            return preview_actions(store, sample)

    def experiment_report(
        self: _Workspace, name: str, *, outcome: Outcome = "conversion", window: int = 30
    ) -> ExperimentReport:
        """Treated against held out for an action (or a destination with a holdout): the uplift in
        conversion or revenue over ``window`` days after entry, with its 95% interval."""
        from personae.activation.experiments import experiment_report, find_experiment
        from personae.profiles.build import traits_as_of

        if outcome not in ("conversion", "revenue"):
            raise UsageError(f"outcome {outcome!r}: use conversion or revenue")
        if window < 1:
            raise UsageError(f"window {window}: give a number of days, at least 1")
        destinations = self.config.destinations
        experiment = find_experiment(name, self.config.actions, destinations)
        with self.engine(write=False) as store:
            until = traits_as_of(store)
            return experiment_report(store, experiment, outcome, window, self.config.traits_config(), until)

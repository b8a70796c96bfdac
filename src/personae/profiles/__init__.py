"""Profile traits: per-UID features as of a date, each one spec from which both its SQL and its
per-event updater are derived (DESIGN §8, "traits as data"; see ``docs/traits.md``).

- :mod:`~personae.profiles.specs`: ``[profile]`` and the declared ``[[traits]]`` of personae.toml;
- :mod:`~personae.profiles.algebra`: the algebra (inputs, values, ``Aggregate``, ``Derived``);
  :mod:`~personae.profiles.catalog`: every trait's spec; :mod:`~personae.profiles.formulas`:
  formulas and filters in the rule language;
- :mod:`~personae.profiles.passes`, :mod:`~personae.profiles.traits`,
  :mod:`~personae.profiles.orders`: the SQL; :mod:`~personae.profiles.build`: the step;
- :mod:`~personae.profiles.folds`, :mod:`~personae.profiles.live`: the live updater.
"""

"""The catalogue (paper 003) agrees with the registry: nothing runnable is hidden, nothing listed is fake."""

from __future__ import annotations

from marlbench.algos import all_algos
from marlbench.algos.catalogue import CATALOGUE, catalogue_rows


def test_every_registered_algorithm_is_in_the_catalogue() -> None:
    listed = {row.command for row in CATALOGUE if row.command}
    assert set(all_algos()) <= listed


def test_availability_matches_the_registry() -> None:
    registered = set(all_algos())
    for row, shown in zip(CATALOGUE, catalogue_rows(all_algos()), strict=True):
        if row.command is None:
            assert shown["available"] == "no" and row.offered.startswith("not offered"), row
        elif row.command in registered:
            assert shown["available"] == "yes", row
        else:  # only in-repo algorithms may be listed before they exist
            assert row.offered == "in-repo" and shown["available"] == "planned", row

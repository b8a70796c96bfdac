"""Compared columns checked against the customers sources' mappings when personae.toml is loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from personae.config import WorkspaceConfig, parse_config
from personae.errors import ConfigError

CRM: dict[str, Any] = {
    "name": "crm",
    "kind": "customers",
    "path": "data/crm.csv",
    "columns": {
        "record_id": "id",
        "first_name": "given",
        "last_name": "surname",
        "birth_date": "dob",
        "street": "concat_ws(' ', street_number, address_1)",
    },
    "identifiers": {"email": "mail"},
}
SHOP: dict[str, Any] = {
    "name": "shop",
    "kind": "customers",
    "path": "data/shop.csv",
    "columns": {"record_id": "customer_no", "first_name": "first_name"},
}


def config(compare: dict[str, str], *sources: dict[str, Any], **fuzzy: Any) -> WorkspaceConfig:
    data = {"sources": list(sources or (CRM,)), "identity": {"fuzzy": {"compare": compare, **fuzzy}}}
    return parse_config(data, Path("personae.toml"))


def refused(compare: dict[str, str], *sources: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as error:
        config(compare, *sources)
    return str(error.value)


def test_a_file_column_mapped_under_another_name_names_the_comparison_the_column_and_its_record_name() -> None:
    message = refused({"last_name": "name", "dob": "date"})
    assert message.startswith(
        "personae.toml: identity.fuzzy.compare.dob = 'date': no customer record has a column 'dob'"
    )
    assert "source 'crm' maps its column 'dob' to birth_date" in message
    assert "Compare 'birth_date' instead" in message
    assert "crm: record_id (id), first_name (given)" in message  # what the sources do map


def test_a_column_a_computed_mapping_reads_is_not_kept_either() -> None:
    message = refused({"last_name": "name", "address_1": "address"})
    assert "source 'crm' maps its column 'address_1' to street" in message


def test_a_typing_slip_of_a_mapped_column_is_refused_with_the_column_meant() -> None:
    for typed in ("frist_name", "birth_dtae", "lst_name"):
        message = refused({typed: "name"})
        assert f"identity.fuzzy.compare.{typed} = 'name': no customers source maps {typed!r}; did you mean" in message
        assert "(mapped by source 'crm')" in message


@pytest.mark.parametrize(
    "compare",
    [
        {"gender": "exact"},  # a record column: a file column of that name maps itself
        {"street2": "address"},  # an added character may be a column of the file's own, kept in attributes
        {"soc_sec_id": "identifier"},  # kept in attributes from the header; checked when the records are read
        {"first_name": "name", "email": "email"},  # mapped, by columns and by identifiers
    ],
)
def test_what_a_file_header_may_provide_is_left_to_the_run(compare: dict[str, str]) -> None:
    assert config(compare).identity.fuzzy.compare == compare


def test_a_file_column_only_one_source_renames_may_be_kept_by_another() -> None:
    assert config({"dob": "date"}, CRM, SHOP).identity.fuzzy.compare == {"dob": "date"}
    assert "source 'crm' maps its column 'dob'" in refused(
        {"dob": "date"}, CRM, {**SHOP, "columns": {"record_id": "customer_no", "birth_date": "dob"}}
    )


def test_nothing_is_checked_when_matching_is_off_or_left_to_its_defaults() -> None:
    assert not config({"dob": "date"}, CRM, enabled=False).identity.fuzzy.enabled
    defaults = parse_config({"sources": [CRM]}, Path("personae.toml"))
    assert "postcode" in defaults.identity.fuzzy.compared_columns  # not mapped by crm, and no error

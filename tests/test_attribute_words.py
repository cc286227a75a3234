"""English nationality, country and office words read in German (qa/attribute_words.py)."""

from __future__ import annotations

from qa.attribute_words import to_german
from qa.claim_check import ParsedClaim


def test_offices_nationalities_and_countries_become_german() -> None:
    assert to_german("The Ukrainian defence minister is Olexij Resnikow.") == (
        "The ukrainische Verteidigungsminister Olexij Resnikow.")
    assert to_german("Russia's foreign minister met Presidents Biden and Putin.") == (
        "Russlands Außenminister met Präsident Biden and Putin.")
    assert to_german("The US Secretary of State was Antony Blinken.") == (
        "The US Außenminister Antony Blinken.")


def test_other_words_stay_and_ambiguous_ones_are_left_alone() -> None:
    """"general", "English" and "Turkey" mostly mean something else; German text keeps its
    own words; a copula stays where no name follows."""
    for text in ("In general, they spoke English about Turkey.", "Blinken met Lavrov in Geneva.",
                 "Sie sprach mit dem Minister Olaf Scholz."):
        assert to_german(text) == text
    assert to_german("The president is here.") == "The Präsident is here."


def test_a_glossed_claim_carries_its_attributes() -> None:
    claim = ParsedClaim.of(to_german("The Russian defence minister is Olexij Resnikow."))
    assert claim.attributes == (("nationality", "russisch"), ("role", "verteidigungsminist"))
    assert ("role", "verteidigungsminist", "olexij") in claim.modified

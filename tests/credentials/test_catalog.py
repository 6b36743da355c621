"""The seeded catalog, search and the pages teachers read."""

from __future__ import annotations

from pathlib import Path

import yaml
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from core.extensions import db
from credentials import services
from credentials.models import CredentialStatus, Framework, FrameworkItem, MicroCredential, Stack
from credentials.seed import catalog_dir, read_catalog, seed_catalog
from rubrics.models import RubricVersion, VersionStatus


def _counts() -> dict[str, int]:
    return {
        model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
        for model in (Framework, FrameworkItem, MicroCredential, Stack, RubricVersion)
    }


def test_seed_is_complete_and_running_it_twice_changes_nothing(app: Flask) -> None:
    with app.app_context():
        assert seed_catalog() == ["Catalog: created 3 frameworks, 18 micro-credentials, 3 stacks."]
        first = _counts()
        assert seed_catalog() == ["Catalog: already seeded, nothing changed."]
        assert _counts() == first
        published = db.session.scalars(
            select(MicroCredential).where(MicroCredential.status == CredentialStatus.PUBLISHED)
        ).all()
        by_theme: dict[str, int] = {}
        for credential in published:
            by_theme[credential.theme] = by_theme.get(credential.theme, 0) + 1
            rubric = credential.rubric_version
            assert rubric.status == VersionStatus.PUBLISHED
            assert len(rubric.criteria) >= 3
            assert all(len(c.levels) == 3 for c in rubric.criteria)
            assert credential.research and credential.pd_hours > 0
            assert {p.section for p in credential.evidence_parts} == {
                "overview",
                "artifact",
                "reflection",
            }
            assert credential.competency_item is not None
        assert len(published) >= 15
        assert all(count >= 5 for count in by_theme.values()) and len(by_theme) == 3
        assert db.session.scalar(select(func.count()).select_from(Stack)) == 3


def test_every_catalog_file_validates_with_the_api_schemas() -> None:
    catalog = read_catalog()
    assert len(catalog["credentials"]) == len(
        list((catalog_dir() / "microcredentials").glob("*.yaml"))
    )
    for document in catalog["credentials"]:
        assert document["rubric"]["passing_rule"] == {
            "kind": "all_at_least",
            "level": "Proficient",
            "threshold": None,
        }


def test_a_broken_catalog_file_is_refused_with_its_name(app: Flask, tmp_path: Path) -> None:
    import shutil

    import pytest

    from credentials.seed import SeedError

    broken = tmp_path / "catalog"
    shutil.copytree(catalog_dir(), broken)
    path = broken / "microcredentials" / "UDL-01.yaml"
    document = yaml.safe_load(path.read_text())
    del document["rubric"]["criteria"][0]["descriptors"]["Developing"]
    path.write_text(yaml.safe_dump(document))
    with app.app_context():
        with pytest.raises(SeedError, match=r"UDL-01\.yaml"):
            seed_catalog(broken)
        assert _counts()["micro_credentials"] == 0


def test_search_by_words_and_by_competency_code(seeded: Flask) -> None:
    with seeded.app_context():
        words = [c.code for c in services.search_catalog(q="progress monitoring")]
        assert "MTSS-02" in words
        assert not [code for code in words if code.startswith("UDL-0") and code != "UDL-02"]
        assert [c.code for c in services.search_catalog(q="MTSS-02")] == ["MTSS-02"]
        by_code = [c.code for c in services.search_catalog(q="UDL3.5.1")]
        assert "UDL-05" in by_code
        assert len(by_code) < 5
        stemmed = [c.code for c in services.search_catalog(q="accommodations")]
        assert "IPL-06" in stemmed
        assert services.search_catalog(q="zzzunknownword") == []
        # Query syntax from users never reaches the search engine as syntax.
        for hostile in ('" OR 1=1 --', "NEAR(a b)", "title:*", "a AND", "'; DROP TABLE x"):
            assert isinstance(services.search_catalog(q=hostile), list)


def test_filters(seeded: Flask) -> None:
    with seeded.app_context():
        udl = services.search_catalog(theme="udl")
        assert udl and all(c.theme == "udl" for c in udl)
        aligned = services.search_catalog(competency="MTSS.PM")
        assert "MTSS-02" in [c.code for c in aligned]
        short = services.search_catalog(max_hours=10)
        assert short and all(c.pd_hours <= 10 for c in short)
        assert all("K-2" in c.grade_bands for c in services.search_catalog(grade_band="K-2"))
        everything = services.search_catalog()
        assert len(services.search_catalog(grade_band="3-5")) <= len(everything)


def test_catalog_page_lists_filters_and_explains(seeded: Flask, client: FlaskClient) -> None:
    page = client.get("/catalog?theme=mtss").get_data(as_text=True)
    assert "6 micro-credentials" in page
    assert "Progress Monitoring That Informs" in page
    assert "Options for Expression" not in page
    assert "MTSS Data-Based Decision Maker" in page  # stacks are shown
    bad = client.get("/catalog?max_hours=lots")
    assert bad.status_code == 400
    assert "There is a problem with the filters" in bad.get_data(as_text=True)


def test_detail_page_shows_exactly_what_to_submit_and_the_rubric(
    seeded: Flask, client: FlaskClient
) -> None:
    response = client.get("/catalog/UDL-05")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    with seeded.app_context():
        credential = services.current_credential("UDL-05")
        for part in credential.evidence_parts:
            assert part.prompt.replace("'", "&#39;").replace('"', "&#34;") in page
        for criterion in credential.rubric_version.criteria:
            for level in criterion.levels:
                assert level.descriptor.replace("'", "&#39;").replace('"', "&#34;") in page
    assert "every criterion must reach “Proficient”" in page
    assert "Protect student privacy" in page
    assert client.get("/catalog/NOPE-99").status_code == 404


def test_frameworks_have_stable_public_pages(seeded: Flask, client: FlaskClient) -> None:
    assert "UDL3.5.1" in client.get("/frameworks/UDL3").get_data(as_text=True)
    item = client.get("/frameworks/UDL3/items/UDL3.5.1")
    assert item.status_code == 200
    assert "UDL-05" in item.get_data(as_text=True)
    assert client.get("/frameworks/UDL3/items/UDL9.9").status_code == 404
    catalog_item = client.get("/frameworks/MICROCRED/items/MTSS-02").get_data(as_text=True)
    assert "MTSS.PM" in catalog_item  # crosswalk to the framework it aligns to


def test_api_reads_are_public(seeded: Flask, client: FlaskClient) -> None:
    listed = client.get("/api/v1/catalog?q=UDL3.5.1").get_json()
    assert "UDL-05" in [c["code"] for c in listed]
    one = client.get("/api/v1/micro-credentials/UDL-05").get_json()
    assert one["rubric"]["passing_rule"] == {"kind": "all_at_least", "level": "Proficient"}
    assert [p["key"] for p in one["evidence_parts"]][:2] == ["P1", "P2"]
    assert client.get("/api/v1/catalog?theme=art").status_code == 422
    assert len(client.get("/api/v1/stacks").get_json()) == 3


def test_framework_page_links_to_its_case_package(seeded: Flask, client: FlaskClient) -> None:
    page = client.get("/frameworks/UDL3").get_data(as_text=True)
    link = "/api/v1/case/frameworks/UDL3/package"
    assert link in page
    package = client.get(link)
    assert package.status_code == 200
    assert package.get_json()["CFDocument"]["title"].startswith("Universal Design for Learning")

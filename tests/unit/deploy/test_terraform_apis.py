"""Every API a resource needs is enabled, and nothing races its enablement.

On a fresh project `terraform apply` creates everything in parallel unless
the graph says otherwise: a resource whose API is not yet on fails with
"API has not been used in project ... or it is disabled". These tests map
each resource and data source type to the API(s) it calls, check each is in
local.apis, and walk the dependency graph (tfgraph.py) to check each such
resource is ordered after google_project_service.enabled.
"""

from __future__ import annotations

import pytest
from tfgraph import Graph
from tfparse import Module, block

ENABLE = "google_project_service.enabled"

# Resource/data type -> the APIs it calls. A new type fails the test below until
# it is listed here (and its API in apis.tf, with the page that says so).
FUNCTIONS_V2 = (
    "cloudfunctions.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",
    "run.googleapis.com",
    "logging.googleapis.com",
)
API_OF: dict[str, tuple[str, ...]] = {
    "google_project_service": (),  # Service Usage itself, on in every project
    "time_sleep": (),
    "data.archive_file": (),
    "data.google_project": ("cloudresourcemanager.googleapis.com",),
    "google_project_iam_member": ("cloudresourcemanager.googleapis.com",),
    "google_project_iam_custom_role": ("iam.googleapis.com",),
    "google_service_account": ("iam.googleapis.com",),
    "google_service_account_iam_member": ("iam.googleapis.com",),
    "google_pubsub_topic": ("pubsub.googleapis.com",),
    "google_pubsub_topic_iam_member": ("pubsub.googleapis.com",),
    "google_pubsub_subscription": ("pubsub.googleapis.com",),
    "google_pubsub_subscription_iam_member": ("pubsub.googleapis.com",),
    "google_cloudfunctions2_function": FUNCTIONS_V2,
    "google_cloud_run_v2_service": ("run.googleapis.com",),
    "google_cloud_run_v2_service_iam_member": ("run.googleapis.com",),
    "google_storage_bucket": ("storage.googleapis.com",),
    "google_storage_bucket_object": ("storage.googleapis.com",),
    "google_storage_bucket_iam_member": ("storage.googleapis.com",),
    "google_secret_manager_secret": ("secretmanager.googleapis.com",),
    "google_secret_manager_secret_version": ("secretmanager.googleapis.com",),
    "google_secret_manager_secret_iam_member": ("secretmanager.googleapis.com",),
    "google_redis_instance": ("redis.googleapis.com", "compute.googleapis.com"),
    "google_compute_network": ("compute.googleapis.com",),
    "google_compute_subnetwork": ("compute.googleapis.com",),
    "google_compute_firewall": ("compute.googleapis.com",),
    "google_vpc_access_connector": ("vpcaccess.googleapis.com", "compute.googleapis.com"),
    "google_firestore_database": ("firestore.googleapis.com",),
    "google_firestore_index": ("firestore.googleapis.com",),
    "google_firestore_field": ("firestore.googleapis.com",),
    "google_firestore_backup_schedule": ("firestore.googleapis.com",),
    "google_cloud_scheduler_job": ("cloudscheduler.googleapis.com",),
    "google_artifact_registry_repository": ("artifactregistry.googleapis.com",),
    "google_artifact_registry_repository_iam_member": ("artifactregistry.googleapis.com",),
    "google_logging_metric": ("logging.googleapis.com",),
    "google_monitoring_alert_policy": ("monitoring.googleapis.com",),
    "google_monitoring_dashboard": ("monitoring.googleapis.com",),
    "google_billing_budget": ("billingbudgets.googleapis.com",),
}


@pytest.fixture(scope="module")
def graph(root: Module) -> Graph:
    return Graph(root)


def test_every_resource_type_is_mapped_to_its_apis(graph: Graph) -> None:
    unmapped = sorted({t for t in graph.resources().values() if t not in API_OF})
    assert not unmapped, f"add these types to API_OF (and their APIs to apis.tf): {unmapped}"


def test_every_needed_api_is_enabled_and_none_is_unexplained(root: Module, graph: Graph) -> None:
    enabled = set(root.locals["apis"])
    assert len(enabled) == len(root.locals["apis"]), "duplicate API"
    assert root.resources[ENABLE]["for_each"] == "${toset(local.apis)}"
    needed = {api for t in graph.resources().values() for api in API_OF[t]}
    # Functions with an event_trigger also need Eventarc; ours are HTTP functions.
    for key, body in root.resources.items():
        assert "event_trigger" not in body, f"{key}: an event trigger needs eventarc.googleapis.com"
    assert needed - enabled == set(), f"not enabled: {sorted(needed - enabled)}"
    assert enabled - needed == set(), f"enabled but used by nothing: {sorted(enabled - needed)}"
    assert "cloudresourcemanager.googleapis.com" in enabled


def test_every_resource_that_calls_an_api_waits_for_it(graph: Graph) -> None:
    racing = sorted(
        node
        for node, rtype in graph.resources().items()
        if API_OF.get(rtype) and ENABLE not in graph.closure(node)
    )
    assert not racing, f"not ordered after {ENABLE}: {racing}"


def test_the_graph_sees_a_missing_dependency(root: Module) -> None:
    # The check above must be able to fail: without the module call's depends_on
    # the function's service account (which references only variables) races.
    call = {k: v for k, v in root.modules["functions"].items() if k != "depends_on"}
    broken = Module(root.path, dict(root.resources), dict(root.data), {**root.modules})
    broken.modules["functions"] = call
    broken.locals = root.locals
    g = Graph(broken)
    assert ENABLE not in g.closure("module.functions.google_service_account.this")
    assert ENABLE in Graph(root).closure("module.functions.google_service_account.this")


def test_the_project_data_source_waits_for_resource_manager(root: Module) -> None:
    data = root.data["google_project.this"]
    assert data["depends_on"] == ["${" + ENABLE + "}"]


def test_api_decisions_cite_google_documentation(root: Module) -> None:
    text = root.files["apis.tf"]
    assert text.count("https://cloud.google.com/") >= 10
    for api in ("eventarc.googleapis.com", "serviceusage.googleapis.com"):
        assert api in text, f"say why {api} is not enabled"


# -- builds (issue: function builds can read their source) ------------------------


BUILD_SA = "serviceAccount:${google_service_account.function_build.email}"


def test_build_account_has_what_a_functions_build_needs(root: Module) -> None:
    grants = {
        (key.split(".")[0], body["role"])
        for key, body in root.resources.items()
        if body.get("member") == BUILD_SA
    }
    assert grants == {
        ("google_project_iam_member", "roles/logging.logWriter"),
        ("google_project_iam_member", "roles/storage.objectAdmin"),  # gcf-v2-sources only
        ("google_artifact_registry_repository_iam_member", "roles/artifactregistry.writer"),
        ("google_storage_bucket_iam_member", "roles/storage.objectViewer"),
    } | {("google_artifact_registry_repository_iam_member", "roles/artifactregistry.writer")}
    gcf = root.resources["google_project_iam_member.function_build_gcf_sources"]
    assert "${local.gcf_sources_bucket}" in block(gcf["condition"])["expression"]
    assert root.locals["gcf_sources_bucket"] == (
        "gcf-v2-sources-${data.google_project.this.number}-${var.region}"
    )
    repos = {
        body["repository"]
        for key, body in root.resources.items()
        if body.get("member") == BUILD_SA and "repository" in body
    }
    assert repos == {
        "${google_artifact_registry_repository.functions.name}",
        "${google_artifact_registry_repository.images.name}",
    }
    assert (
        "https://cloud.google.com/run/docs/configuring/services/build-service-account"
        in (root.files["functions.tf"])
    )


def test_builds_wait_for_iam_propagation(root: Module, event_function: Module) -> None:
    sleep = root.resources["time_sleep.build_iam_propagation"]
    assert sleep["create_duration"] == "60s"
    build_grants = {
        f"${{{key}}}" for key, body in root.resources.items() if body.get("member") == BUILD_SA
    }
    assert set(sleep["depends_on"]) == build_grants
    assert "${time_sleep.build_iam_propagation}" in root.modules["functions"]["depends_on"]
    # The build account is set explicitly, never the project's default.
    assert (
        root.modules["functions"]["build_service_account_id"]
        == "${google_service_account.function_build.id}"
    )
    fn = event_function.resources["google_cloudfunctions2_function.this"]
    assert block(fn["build_config"])["service_account"] == "${var.build_service_account_id}"
    # Every function instance is ordered after the wait.
    g = Graph(root)
    assert "time_sleep.build_iam_propagation" in g.closure(
        "module.functions.google_cloudfunctions2_function.this"
    )

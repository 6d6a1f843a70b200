"""The Terraform is wired the way the code expects (parsed with python-hcl2, offline).

`terraform validate/plan` need the google provider, which cannot be downloaded
here; these tests pin down what matters to the application instead: one
function per functions/ directory, push with OIDC into each, topic names equal
to tickcast.config's, least-privilege identities, nothing public but the bridge.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from tfparse import ROOT, TF, Module, all_modules, block, comments, load_tfvars

from tickcast.config import TOPICS, Settings
from tickcast.local.topology import PUSH_ROUTES

PUBLIC = ("allUsers", "allAuthenticatedUsers")

# Each function's whole authority. A change here is a security review.
EXPECTED_ROLES: dict[str, set[tuple[str, str]]] = {
    "ingest": {
        ("roles/pubsub.publisher", "topic:ticks"),
        ("roles/pubsub.publisher", "topic:deadletter"),
        ("roles/secretmanager.secretAccessor", "secret:redis_url"),
    },
    "features": {
        ("roles/pubsub.publisher", "topic:features"),
        ("roles/pubsub.publisher", "topic:deadletter"),
        ("roles/secretmanager.secretAccessor", "secret:redis_url"),
    },
    "predict": {
        ("roles/datastore.user", "project"),
        ("roles/pubsub.publisher", "topic:deadletter"),
        ("roles/storage.objectViewer", "bucket:models/"),
    },
}

# What each function is pushed from (and whether in ordering-key order): the
# same routes `tickcast local up` creates on the emulator, so the two agree.
EXPECTED_SUBSCRIPTIONS: dict[str, dict[str, bool]] = {}
for _topic, _function, _ordered in PUSH_ROUTES:
    EXPECTED_SUBSCRIPTIONS.setdefault(_function, {})[_topic] = _ordered


def function_dirs() -> set[str]:
    return {p.name for p in (ROOT / "functions").iterdir() if p.is_dir() and p.name != "ws_bridge"}


def effective_roles(spec: dict[str, Any]) -> set[tuple[str, str]]:
    """The grants modules/event_function derives from one local.functions entry."""
    roles = {(r, "project") for r in spec["project_roles"]}
    roles |= {("roles/pubsub.publisher", f"topic:{t}") for t in spec["publishes"]}
    if spec["uses_redis"]:
        roles.add(("roles/secretmanager.secretAccessor", "secret:redis_url"))
    if spec["reads_models"]:
        roles.add(("roles/storage.objectViewer", "bucket:models/"))
    return roles


# -- functions ---------------------------------------------------------------


def test_every_function_directory_has_a_function(root: Module, event_function: Module) -> None:
    assert function_dirs(), "functions/ has no event functions"
    assert set(root.locals["functions"]) == function_dirs()

    call = root.modules["functions"]
    assert call["source"] == "./modules/event_function"
    assert call["for_each"] == "${local.functions}"
    assert call["entry_point"] == "${each.key}"

    fns = event_function.of_type("google_cloudfunctions2_function")
    assert list(fns) == ["google_cloudfunctions2_function.this"]
    fn = fns["google_cloudfunctions2_function.this"]
    build = block(fn["build_config"])
    assert build["entry_point"] == "${var.entry_point}"
    assert event_function.variables["runtime"]["default"] == "python311"
    assert block(build["source"])["storage_source"]
    svc = block(fn["service_config"])
    assert svc["ingress_settings"] == "ALLOW_INTERNAL_ONLY"
    assert svc["service_account_email"] == "${google_service_account.this.email}"
    assert svc["max_instance_request_concurrency"] == "${var.concurrency}"
    assert svc["max_instance_count"] == "${var.max_instances}"


def test_function_sources_are_content_hashed_zips_of_build(root: Module) -> None:
    archive = root.data["archive_file.function"]
    assert archive["for_each"] == "${local.functions}"
    assert archive["source_dir"] == "${local.build_dir}/${each.key}"
    obj = root.resources["google_storage_bucket_object.function_source"]
    assert re.search(r"output_(md5|sha|sha256|base64sha256)", obj["name"]), obj["name"]
    assert obj["source"] == "${data.archive_file.function[each.key].output_path}"
    assert (
        root.modules["functions"]["source_object"]
        == "${google_storage_bucket_object.function_source[each.key].name}"
    )
    assert "null_resource" not in root.text()


# -- Pub/Sub -----------------------------------------------------------------


def test_topic_names_match_the_python_defaults(root: Module, pubsub_topics: Module) -> None:
    settings = Settings()
    assert set(root.locals["topics"]) == set(TOPICS)
    assert root.variables["topic_prefix"]["default"] == settings.topic_prefix
    call = root.modules["topics"]
    assert call["source"] == "./modules/pubsub_topics"
    assert call["prefix"] == "${var.topic_prefix}"
    topic = pubsub_topics.resources["google_pubsub_topic.this"]
    assert topic["name"] == "${var.prefix}${each.key}"
    for name in TOPICS:
        rendered = (
            topic["name"]
            .replace("${var.prefix}", settings.topic_prefix)
            .replace("${each.key}", name)
        )
        assert rendered == settings.topic(name)
    # The code is told the same prefix, so both sides always agree.
    assert root.locals["common_env"]["TICKCAST_TOPIC_PREFIX"] == "${var.topic_prefix}"
    for env in ("dev", "prod"):
        assert "topic_prefix" not in load_tfvars(TF / "envs" / f"{env}.tfvars")


def test_topics_keep_messages(root: Module, pubsub_topics: Module) -> None:
    topic = pubsub_topics.resources["google_pubsub_topic.this"]
    assert topic["message_retention_duration"] == "${each.value.retention}"
    assert all(t["retention"] for t in root.locals["topics"].values())


def test_push_subscriptions_target_their_function_with_oidc(
    root: Module, event_function: Module
) -> None:
    # Routes come from topology.json, the file `tickcast local up` reads too.
    assert {
        fn: {t: o for t, f, o in PUSH_ROUTES if f == fn} for fn in root.locals["functions"]
    } == EXPECTED_SUBSCRIPTIONS
    for topic, _function, _ordered in PUSH_ROUTES:
        assert topic in set(root.locals["topics"]) - {"deadletter"}

    sub = event_function.resources["google_pubsub_subscription.push"]
    assert sub["for_each"] == "${var.subscriptions}"
    assert sub["topic"] == "${each.value.topic_id}"
    assert sub["enable_message_ordering"] == "${each.value.ordered}"
    push = block(sub["push_config"])
    # The endpoint is the function created next to it in the same module instance.
    assert push["push_endpoint"] == "${google_cloudfunctions2_function.this.service_config[0].uri}"
    oidc = block(push["oidc_token"])
    assert oidc["service_account_email"] == "${var.invoker_service_account_email}"
    assert oidc["audience"] == push["push_endpoint"]
    assert (
        root.modules["functions"]["invoker_service_account_email"]
        == "${google_service_account.push_invoker.email}"
    )
    assert root.modules["functions"]["subscriptions"].startswith(
        "${{for r in local.topology.routes : r.topic => {"
    )
    assert "if r.function == each.key" in root.modules["functions"]["subscriptions"]
    assert sub["name"] == "${each.value.name}"

    retry = block(sub["retry_policy"])
    assert retry["minimum_backoff"] == "${var.retry_minimum_backoff}"
    assert retry["maximum_backoff"] == "${var.retry_maximum_backoff}"
    dlq = block(sub["dead_letter_policy"])
    assert dlq["dead_letter_topic"] == "${var.dead_letter_topic_id}"
    assert dlq["max_delivery_attempts"] == "${var.max_delivery_attempts}"
    assert root.modules["functions"]["dead_letter_topic_id"] == '${module.topics.ids["deadletter"]}'
    assert block(sub["expiration_policy"])["ttl"] == ""

    # No push subscription anywhere else; the dead-letter one is pull-only.
    for key, body in root.of_type("google_pubsub_subscription").items():
        assert "push_config" not in body, key
    inspect = root.resources["google_pubsub_subscription.deadletter_inspect"]
    assert inspect["topic"] == '${module.topics.ids["deadletter"]}'


def test_pubsub_service_agent_can_dead_letter(root: Module, event_function: Module) -> None:
    assert root.locals["pubsub_service_agent"] == (
        "service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
    )
    pub = root.resources["google_pubsub_topic_iam_member.deadletter_publisher"]
    assert pub["topic"] == '${module.topics.ids["deadletter"]}'
    assert pub["role"] == "roles/pubsub.publisher"
    assert pub["member"] == "serviceAccount:${local.pubsub_service_agent}"
    sub = event_function.resources["google_pubsub_subscription_iam_member.dead_letter_subscriber"]
    assert sub["for_each"] == "${var.subscriptions}"
    assert sub["subscription"] == "${google_pubsub_subscription.push[each.key].name}"
    assert sub["role"] == "roles/pubsub.subscriber"
    assert sub["member"] == "serviceAccount:${var.pubsub_service_agent}"
    assert root.modules["functions"]["pubsub_service_agent"] == "${local.pubsub_service_agent}"


# -- identities and exposure ---------------------------------------------------


def test_each_function_has_its_own_account_with_exactly_its_roles(
    root: Module, event_function: Module
) -> None:
    functions = root.locals["functions"]
    assert {name: effective_roles(spec) for name, spec in functions.items()} == EXPECTED_ROLES

    # The module creates one account per instance and grants it only what the inputs say.
    assert list(event_function.of_type("google_service_account")) == ["google_service_account.this"]
    assert event_function.resources["google_service_account.this"]["account_id"] == "${var.name}"
    assert root.modules["functions"]["name"] == "${var.name_prefix}-${each.key}"
    sa = "serviceAccount:${google_service_account.this.email}"
    grants = {k: v for k, v in event_function.resources.items() if "_iam_" in k.split(".")[0]}
    assert set(grants) == {
        "google_project_iam_member.this",
        "google_pubsub_topic_iam_member.publisher",
        "google_secret_manager_secret_iam_member.accessor",
        "google_storage_bucket_iam_member.object_reader",
        "google_cloud_run_v2_service_iam_member.invoker",
        "google_pubsub_subscription_iam_member.dead_letter_subscriber",
    }
    assert grants["google_project_iam_member.this"]["for_each"] == "${var.project_roles}"
    assert grants["google_project_iam_member.this"]["role"] == "${each.value}"
    assert (
        grants["google_pubsub_topic_iam_member.publisher"]["for_each"] == "${var.publish_topic_ids}"
    )
    assert grants["google_pubsub_topic_iam_member.publisher"]["role"] == "roles/pubsub.publisher"
    assert (
        grants["google_secret_manager_secret_iam_member.accessor"]["role"]
        == "roles/secretmanager.secretAccessor"
    )
    reader = grants["google_storage_bucket_iam_member.object_reader"]
    assert reader["role"] == "roles/storage.objectViewer"
    assert "startsWith" in block(reader["condition"])["expression"]
    for key in (
        "google_project_iam_member.this",
        "google_pubsub_topic_iam_member.publisher",
        "google_secret_manager_secret_iam_member.accessor",
        "google_storage_bucket_iam_member.object_reader",
    ):
        assert grants[key]["member"] == sa, key

    # The root passes exactly the map's fields, and grants function accounts nothing else.
    call = root.modules["functions"]
    assert call["project_roles"] == "${toset(each.value.project_roles)}"
    assert "each.value.publishes" in call["publish_topic_ids"]
    assert "each.value.uses_redis" in call["secret_ids"]
    assert "subscriptions" not in str(root.locals["functions"])  # routes: topology.json
    assert "each.value.reads_models" in call["object_read"]
    assert call["object_read"].count("models/") == 1
    for key, body in root.resources.items():
        if "_iam_" in key.split(".")[0]:
            assert "module.functions" not in str(body), key


def test_functions_are_invokable_only_by_the_push_invoker(event_function: Module) -> None:
    invoker = event_function.resources["google_cloud_run_v2_service_iam_member.invoker"]
    assert invoker["role"] == "roles/run.invoker"
    assert invoker["name"] == "${google_cloudfunctions2_function.this.name}"
    assert invoker["member"] == "serviceAccount:${var.invoker_service_account_email}"
    fn = event_function.resources["google_cloudfunctions2_function.this"]
    assert block(fn["service_config"])["ingress_settings"] == "ALLOW_INTERNAL_ONLY"


def test_each_function_serves_as_many_requests_at_once_as_cloud_run_sends_it(
    event_function: Module,
) -> None:
    """functions-framework's gunicorn has THREADS threads (default 4 per CPU,
    functions_framework/_http/gunicorn.py): it must equal the instance's
    request concurrency, or pushes queue inside an instance Cloud Run thinks free."""
    from functions_framework._http import gunicorn

    assert 'os.environ.get("THREADS"' in Path(gunicorn.__file__).read_text()
    service = block(
        event_function.resources["google_cloudfunctions2_function.this"]["service_config"]
    )
    assert service["max_instance_request_concurrency"] == "${var.concurrency}"
    assert service["environment_variables"] == (
        "${merge(var.environment, {THREADS = tostring(var.concurrency)})}"
    )


def test_nothing_is_public_except_the_documented_bridge_binding() -> None:
    public: list[tuple[str, str]] = []
    for path in all_modules():
        m = Module.load(path)
        for key, body in m.resources.items():
            if any(p in str(body) for p in PUBLIC):
                public.append((path.name, key))
        for name, body in m.locals.items():
            assert not any(p in str(body) for p in PUBLIC), name
    assert public == [("terraform", "google_cloud_run_v2_service_iam_member.bridge_public")]

    root = Module.load(TF)
    binding = root.resources["google_cloud_run_v2_service_iam_member.bridge_public"]
    assert binding["member"] == "allUsers"
    assert binding["role"] == "roles/run.invoker"
    assert binding["name"] == "${google_cloud_run_v2_service.bridge.name}"
    # Documented next to the resource and in docs/DEPLOY.md.
    assert "The ONLY public binding in this stack." in root.files["bridge.tf"]
    assert any("Public by design" in c for c in comments(binding))
    assert "allUsers" in (ROOT / "docs" / "DEPLOY.md").read_text(encoding="utf-8")


def test_bridge_reads_firestore_its_secret_and_its_own_ticks_subscription_only(
    root: Module,
) -> None:
    grants = {
        k: v
        for k, v in root.resources.items()
        if "google_service_account.bridge" in str(v.get("member", ""))
    }
    assert {(v["role"], k.split(".")[0]) for k, v in grants.items()} == {
        ("roles/datastore.viewer", "google_project_iam_member"),
        ("roles/secretmanager.secretAccessor", "google_secret_manager_secret_iam_member"),
        ("roles/pubsub.subscriber", "google_pubsub_topic_iam_member"),
        ("${google_project_iam_custom_role.bridge_trades.id}", "google_project_iam_member"),
    }
    # Subscriber on tickcast-ticks only; the project-level role creates, reads and
    # deletes subscriptions and nothing else (channel `trades`, bridge/trades.py).
    topic = grants["google_pubsub_topic_iam_member.bridge_ticks_subscriber"]["topic"]
    assert topic == '${module.topics.ids["ticks"]}'
    role = root.resources["google_project_iam_custom_role.bridge_trades"]
    assert sorted(role["permissions"]) == [
        "pubsub.subscriptions.consume",
        "pubsub.subscriptions.create",
        "pubsub.subscriptions.delete",
        "pubsub.subscriptions.get",
    ]


# -- configuration passed to the code --------------------------------------------


def test_environment_names_are_settings_variables(root: Module) -> None:
    aliases = {f.alias for f in Settings.model_fields.values()}
    names = set(root.locals["common_env"])
    predict_env = root.locals["function_env"]["predict"]
    names |= set(re.findall(r"\b(TICKCAST_[A-Z0-9_]+) =", predict_env))
    names |= set(root.locals["bridge_env"])
    names.add("TICKCAST_REDIS_URL")  # the secret env of the Redis users
    assert "TICKCAST_REDIS_URL = {" in str(root.modules["functions"]["secret_environment"])
    assert names <= aliases, names - aliases
    assert root.locals["bridge_env"]["TICKCAST_WS_ALLOW_UNAUTHENTICATED"] == "false"
    # Not a Settings field yet: the bridge's auth layer reads it (see docs/DEPLOY.md).
    assert "TICKCAST_WS_JWT_SECRET" in root.files["bridge.tf"]


def test_redis_is_ha_with_auth_and_tls(root: Module) -> None:
    redis = root.resources["google_redis_instance.state"]
    assert redis["tier"] == "STANDARD_HA"
    assert redis["auth_enabled"] is True
    assert redis["transit_encryption_mode"] == "SERVER_AUTHENTICATION"
    assert redis["authorized_network"] == "${google_compute_network.vpc.id}"
    url = root.resources["google_secret_manager_secret_version.redis_url"]["secret_data"]
    assert "rediss://" in url and "auth_string" in url and "server_ca_certs" in url
    # Only the Redis users egress through the connector.
    assert "each.value.uses_redis" in root.modules["functions"]["vpc_connector"]


def test_firestore_indexes_and_ttl(root: Module) -> None:
    db = root.resources["google_firestore_database.main"]
    assert db["name"] == "(default)"
    assert db["type"] == "FIRESTORE_NATIVE"
    alerts = root.resources["google_firestore_index.alerts_by_symbol_seq"]
    assert alerts["collection"] == "alerts"
    assert [f["field_path"] for f in alerts["fields"]] == ["symbol", "seq"]
    seq = root.resources["google_firestore_field.prediction_seq"]
    assert (seq["collection"], seq["field"]) == ("predictions", "seq")
    ttl = root.resources["google_firestore_field.prediction_expire_at"]
    assert (ttl["collection"], ttl["field"]) == ("predictions", "expire_at")
    assert "ttl_config" in ttl
    # Alerts expire too (the field predict/alerts.py writes), so the collection is bounded.
    from tickcast.predict.alerts import Alert

    written = Alert("AAPL", 1, "rsi_overbought", "", 1.0, 1.0).document(1)
    ttl = root.resources["google_firestore_field.alert_expire_at"]
    assert (ttl["collection"], ttl["field"]) == ("alerts", "expire_at") and "expire_at" in written
    assert "ttl_config" in ttl


def test_backups_and_recovery(root: Module) -> None:
    """Issue 18: PITR, daily and weekly backups with retention per environment, Redis
    snapshots, and a versioned model bucket (docs/OPERATIONS.md: restore)."""
    db = root.resources["google_firestore_database.main"]
    assert "POINT_IN_TIME_RECOVERY_ENABLED" in db["point_in_time_recovery_enablement"]
    assert "var.firestore_pitr" in db["point_in_time_recovery_enablement"]
    daily = root.resources["google_firestore_backup_schedule.daily"]
    weekly = root.resources["google_firestore_backup_schedule.weekly"]
    for schedule in (daily, weekly):
        assert schedule["database"] == "${google_firestore_database.main.name}"
    assert "var.firestore_backups.daily_retention_days * 86400" in daily["retention"]
    assert "daily_recurrence" in daily
    assert "var.firestore_backups.weekly_retention_weeks * 7 * 86400" in weekly["retention"]
    assert block(weekly["weekly_recurrence"])["day"] == "SUNDAY"
    for env, (days, weeks, pitr) in {"dev": (2, 0, False), "prod": (7, 8, True)}.items():
        values = load_tfvars(TF / "envs" / f"{env}.tfvars")
        backups = values["firestore_backups"]
        assert (backups["daily_retention_days"], backups["weekly_retention_weeks"]) == (days, weeks)
        assert values["firestore_pitr"] is pitr
    redis = root.resources["google_redis_instance.state"]
    persistence = block(redis["persistence_config"])
    assert persistence["persistence_mode"] == "RDB"  # STANDARD_HA supports RDB snapshots
    assert persistence["rdb_snapshot_period"] == "ONE_HOUR"
    bucket = root.resources["google_storage_bucket.artifacts"]  # models/ lives here
    assert block(bucket["versioning"])["enabled"] is True


def test_every_alert_policy_has_a_runbook(root: Module) -> None:
    """docs/OPERATIONS.md has one section per alert policy, headed by the resource name."""
    runbooks = (ROOT / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^### (\w+) —", runbooks, flags=re.M))
    policies = {name.split(".", 1)[1] for name in root.of_type("google_monitoring_alert_policy")}
    assert {"deadletter_backlog", "bridge_listener_restarts", "feed_stale"} <= policies
    assert policies <= headings, policies - headings


def test_listener_restart_alert_counts_the_watchdogs_log_line(root: Module) -> None:
    metric = root.resources["google_logging_metric.bridge_listener_restarts"]
    listener = (ROOT / "src/tickcast/bridge/listener.py").read_text(encoding="utf-8")
    watchdog = (ROOT / "src/tickcast/bridge/watchdog.py").read_text(encoding="utf-8")
    assert '_log.warning("restarting listener", extra={"collection"' in listener
    assert (
        "jsonPayload.message = " in metric["filter"] and "restarting listener" in metric["filter"]
    )
    # the alerts listener's routine restart (watchdog.diagnose) is left out
    assert "moving its range forward" in watchdog
    assert "NOT jsonPayload.reason =~" in metric["filter"]
    assert "^moving its range forward" in metric["filter"]
    policy = root.resources["google_monitoring_alert_policy.bridge_listener_restarts"]
    assert (
        "listener_restarts_per_10m"
        in block(block(policy["conditions"])["condition_threshold"])["threshold_value"]
    )


def test_bridge_service_shape(root: Module) -> None:
    svc = root.resources["google_cloud_run_v2_service.bridge"]
    tpl = block(svc["template"])
    assert tpl["session_affinity"] is True
    assert tpl["timeout"] == "3600s"
    assert tpl["max_instance_request_concurrency"] == "${var.bridge_scaling.concurrency}"
    assert block(tpl["scaling"])["min_instance_count"] == "${var.bridge_scaling.min_instances}"
    container = block(tpl["containers"])
    assert block(container["ports"])["container_port"] == 8080
    assert block(block(container["startup_probe"])["http_get"])["path"] == "/readyz"
    assert block(block(container["liveness_probe"])["http_get"])["path"] == "/healthz"
    assert "google_artifact_registry_repository.images" in root.locals["bridge_image"]
    assert tpl["service_account"] == "${google_service_account.bridge.email}"


def test_clock_is_published_every_minute(root: Module) -> None:
    job = root.resources["google_cloud_scheduler_job.clock"]
    assert job["schedule"] == "* * * * *"
    target = block(job["pubsub_target"])
    assert target["topic_name"] == '${module.topics.ids["clock"]}'
    assert block(target["attributes"])["kind"] == "clock"  # how features and predict recognise it


def test_monitoring_covers_the_required_signals(root: Module) -> None:
    text = root.files["monitoring.tf"]
    assert "pubsub.googleapis.com/subscription/num_undelivered_messages" in text
    assert "google_pubsub_subscription.deadletter_inspect.name" in text
    assert "run.googleapis.com/request_count" in text
    latency = root.resources["google_logging_metric.e2e_latency"]
    assert latency["value_extractor"] == "EXTRACT(jsonPayload.latency_ms)"
    assert block(latency["metric_descriptor"])["value_type"] == "DISTRIBUTION"
    assert "google_logging_metric.bridge_connections" in root.resources
    assert set(root.of_type("google_monitoring_alert_policy")) >= {
        "google_monitoring_alert_policy.deadletter_backlog",
        "google_monitoring_alert_policy.function_errors",
        "google_monitoring_alert_policy.e2e_latency",
    }
    assert "google_monitoring_dashboard.main" in root.resources


# -- style rules from ARCHITECTURE.md ---------------------------------------------


@pytest.mark.parametrize("path", list(all_modules()), ids=lambda p: p.name)
def test_variables_typed_described_and_outputs_described(path: Path) -> None:
    m = Module.load(path)
    for name, var in m.variables.items():
        assert var.get("type"), f"{path.name}: variable {name} has no type"
        assert var.get("description"), f"{path.name}: variable {name} has no description"
    for name, out in m.outputs.items():
        assert out.get("description"), f"{path.name}: output {name} has no description"


@pytest.mark.parametrize("path", list(all_modules()), ids=lambda p: p.name)
def test_providers_are_bounded(path: Path) -> None:
    m = Module.load(path)
    providers: dict[str, Any] = {}
    for t in m.terraform:
        for rp in t.get("required_providers", []):
            providers.update({k: v for k, v in rp.items() if not k.startswith("__")})
    assert "google" in providers
    for name, spec in providers.items():
        assert re.search(r">=\s*[\d.]+\s*,\s*<\s*[\d.]+", spec["version"]), (
            f"{name}: {spec['version']}"
        )


def test_backend_is_partial_gcs(root: Module) -> None:
    backends = [b for t in root.terraform for b in t.get("backend", [])]
    assert backends == [{"gcs": {}}] or backends == [{"gcs": [{}]}] or list(backends[0]) == ["gcs"]
    assert "-backend-config" in root.files["backend.tf"]


def test_every_checkov_skip_has_a_reason() -> None:
    found = 0
    for path in all_modules():
        for f in sorted(path.glob("*.tf")):
            for line in f.read_text(encoding="utf-8").splitlines():
                if "checkov:skip" in line:
                    found += 1
                    m = re.search(r"#checkov:skip=(CKV2?_[A-Z]+_\d+):(.{20,})", line)
                    assert m, f"{f.name}: skip without a reason: {line.strip()}"
    assert found, "expected the documented skips (CMEK, bucket access logs, public bridge)"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_env_tfvars_set_only_declared_variables(root: Module, env: str) -> None:
    values = load_tfvars(TF / "envs" / f"{env}.tfvars")
    assert set(values) <= set(root.variables), set(values) - set(root.variables)
    assert values["environment"] == env
    required = {n for n, v in root.variables.items() if "default" not in v}
    # bridge_image_tag is the commit being deployed: scripts/deploy.sh passes it.
    assert required - set(values) == {"bridge_image_tag"}
    assert set(values.get("function_scaling", {})) <= set(root.locals["functions"])


# -- thresholds as code, the budget, the dashboards (issue 18, points 4 and 5) ------

# Built-in metric types the configuration uses, each listed on
# https://cloud.google.com/monitoring/api/metrics_gcp (sections run, redis, pubsub).
DOCUMENTED_METRICS = {
    "run.googleapis.com/container/cpu/utilizations",
    "run.googleapis.com/container/memory/utilizations",
    "run.googleapis.com/container/max_request_concurrencies",
    "run.googleapis.com/container/instance_count",
    "run.googleapis.com/request_count",
    "run.googleapis.com/request_latencies",
    "redis.googleapis.com/stats/memory/usage_ratio",
    "redis.googleapis.com/stats/cpu_utilization",
    "pubsub.googleapis.com/subscription/num_undelivered_messages",
    "pubsub.googleapis.com/subscription/dead_letter_message_count",
}
LEVELS = {
    "cpu_utilization": {"warning": 0.70, "critical": 0.85},
    "memory_utilization": {"warning": 0.80, "critical": 0.90},
    "redis_memory_ratio": {"warning": 0.80, "critical": 0.90},
    "redis_cpu": {"warning": 0.70, "critical": 0.85},
}
DASHBOARD = ROOT / "infra" / "dashboards" / "cloud-monitoring.json"
GRAFANA = ROOT / "infra" / "grafana" / "tickcast-bridge.json"


def _threshold(policy: dict[str, Any]) -> dict[str, Any]:
    return block(block(policy["conditions"])["condition_threshold"])


def _optional_object_defaults(var: dict[str, Any]) -> dict[str, dict[str, float]]:
    out = {}
    for name, warning, critical in re.findall(
        r"(\w+)\s*=\s*optional\(object\([^)]*\),\s*\{\s*warning\s*=\s*([\d.]+),\s*critical\s*=\s*([\d.]+)\s*\}\)",
        str(var["type"]),
    ):
        out[name] = {"warning": float(warning), "critical": float(critical)}
    return out


def test_thresholds_are_warning_and_critical_policies(root: Module) -> None:
    """CPU 70/85 %, memory 80/90 %, latency p99 and 5xx ratio for the functions and the
    bridge, memory and CPU for Redis: two policies each, with the policy's severity and
    that severity's channels."""
    defaults = _optional_object_defaults(root.variables["alert_levels"])
    assert set(defaults) == {
        "cpu_utilization",
        "memory_utilization",
        "request_latency_p99_ms",
        "error_ratio",
        "redis_memory_ratio",
        "redis_cpu",
    }
    for name, levels in LEVELS.items():
        assert defaults[name] == levels, name
    for name, levels in defaults.items():
        assert levels["warning"] < levels["critical"], name
    for var in ("notification_channels_warning", "notification_channels_critical"):
        assert root.variables[var]["default"] == []

    assert root.locals["severities"] == {
        "warning": {"severity": "WARNING", "channels": "${var.notification_channels_warning}"},
        "critical": {"severity": "CRITICAL", "channels": "${var.notification_channels_critical}"},
    }
    assert set(root.locals["cloud_run_targets"]) == {"functions", "bridge"}
    assert root.locals["cloud_run_targets"]["functions"]["filter"] == "${local.functions_filter}"
    assert root.locals["cloud_run_targets"]["bridge"]["filter"] == "${local.bridge_filter}"
    policies = {
        "cloud_run_cpu": ("cpu_utilization", "run.googleapis.com/container/cpu/utilizations"),
        "cloud_run_memory": (
            "memory_utilization",
            "run.googleapis.com/container/memory/utilizations",
        ),
        "cloud_run_latency": ("request_latency_p99_ms", "run.googleapis.com/request_latencies"),
        "cloud_run_error_ratio": ("error_ratio", "run.googleapis.com/request_count"),
        "redis_memory": ("redis_memory_ratio", "redis.googleapis.com/stats/memory/usage_ratio"),
        "redis_cpu": ("redis_cpu", "redis.googleapis.com/stats/cpu_utilization"),
    }
    for name, (level, metric) in policies.items():
        policy = root.resources[f"google_monitoring_alert_policy.{name}"]
        cloud_run = name.startswith("cloud_run_")
        assert policy["for_each"] == (
            "${local.cloud_run_policies}" if cloud_run else "${local.severities}"
        ), name
        key = "each.value.level" if cloud_run else "each.key"
        assert policy["severity"] in (
            f"${{local.severities[{key}].severity}}",
            "${each.value.severity}",
        ), name
        assert "channels}" in policy["notification_channels"], name
        cond = _threshold(policy)
        assert cond["threshold_value"] == f"${{var.alert_levels.{level}[{key}]}}", name
        assert f'metric.type = "{metric}"' in cond["filter"], name
        assert (
            "local.cloud_run_targets[each.value.target].filter" in cond["filter"]
            if cloud_run
            else "local.redis_filter" in cond["filter"]
        ), name
    # The former single Redis memory policy is the warning one now (moved, not recreated).
    assert re.search(
        r"moved \{\s*from\s*= google_monitoring_alert_policy\.redis_memory\s*"
        r'to\s*= google_monitoring_alert_policy\.redis_memory\["warning"\]',
        root.files["monitoring.tf"],
    )
    ratio = _threshold(root.resources["google_monitoring_alert_policy.cloud_run_error_ratio"])
    assert 'response_code_class = "5xx"' in ratio["filter"]
    assert "5xx" not in ratio["denominator_filter"]
    # A bridge WebSocket is a 101 request that lasts the session: left out of latency.
    latency = _threshold(root.resources["google_monitoring_alert_policy.cloud_run_latency"])
    assert re.search(r'response_code_class != \\?"1xx', latency["filter"]), latency["filter"]
    assert block(latency["aggregations"])["cross_series_reducer"] == "REDUCE_PERCENTILE_99"


def _metric_types(text: str) -> set[str]:
    return set(re.findall(r'metric\.type = \\?"([^"\\]+)', text))


def test_every_metric_type_is_documented_or_a_log_based_metric_defined_here(
    root: Module,
) -> None:
    user = "logging.googleapis.com/user/"
    used = _metric_types(root.text()) | _metric_types(DASHBOARD.read_text(encoding="utf-8"))
    builtin = {m for m in used if not m.startswith(user) and not m.startswith("${")}
    assert builtin <= DOCUMENTED_METRICS, builtin - DOCUMENTED_METRICS
    assert "cloud.google.com/monitoring/api/metrics_gcp" in root.files["monitoring.tf"]
    for m in used - builtin:
        if m.startswith("${"):
            assert m == "${local.latency_metric_type}"
            continue
        ref = m[len(user) :]
        if ref.startswith("${google_logging_metric."):
            name = ref[len("${google_logging_metric.") :].split(".")[0].split("[")[0]
            assert f"google_logging_metric.{name}" in root.resources, m
        else:  # a dashboard template placeholder, filled in dashboard.tf
            assert re.fullmatch(r"\$\{\w+\}", ref), m


def _tickcast_cost_total(env: str, symbols: int, ticks: float) -> float:
    import argparse
    import contextlib
    import io

    from tickcast.deploy import cost

    p = argparse.ArgumentParser(prog="tickcast")
    cost.register(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(
        ["cost", "--symbols", str(symbols), "--ticks-per-second", f"{ticks:g}", "--json"]
        + ([] if env == "default" else ["--env", env])
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert args.func(args) == 0
    return float(json.loads(out.getvalue())["batched"]["total_usd"])


@pytest.mark.parametrize("env", ["default", "dev", "prod"])
def test_budget_is_what_tickcast_cost_prints_times_the_headroom(root: Module, env: str) -> None:
    import math

    budget = root.variables["monthly_budget"]["default"]
    if env != "default":
        budget = load_tfvars(TF / "envs" / f"{env}.tfvars")["monthly_budget"]
    assert 1.0 <= budget["headroom"] <= 2.0
    total = _tickcast_cost_total(env, budget["symbols"], budget["ticks_per_second"])
    assert budget["amount_usd"] == math.ceil(total * budget["headroom"]), (
        f"{env}: `tickcast cost` prints {total:.2f} USD; x{budget['headroom']} = "
        f"{math.ceil(total * budget['headroom'])}: update monthly_budget.amount_usd"
    )
    if env != "default":
        text = (TF / "envs" / f"{env}.tfvars").read_text(encoding="utf-8")
        assert (
            f"tickcast cost --env {env} --symbols {budget['symbols']} "
            f"--ticks-per-second {budget['ticks_per_second']}" in text
        )


def test_budget_alert_shape(root: Module) -> None:
    budget = root.resources["google_billing_budget.monthly"]
    assert budget["count"] == '${var.billing_account == "" ? 0 : 1}'
    assert root.variables["billing_account"]["default"] == ""
    assert budget["billing_account"] == "${var.billing_account}"
    flt = block(budget["budget_filter"])
    assert flt["calendar_period"] == "MONTH"
    assert flt["projects"] == ["projects/${data.google_project.this.number}"]
    amount = block(block(budget["amount"])["specified_amount"])
    assert amount["units"] == "${tostring(var.monthly_budget.amount_usd)}"
    assert amount["currency_code"] == "USD"
    assert [r["threshold_percent"] for r in budget["threshold_rules"]] == [0.5, 0.9, 1.0]
    rule = block(budget["all_updates_rule"])
    assert rule["monitoring_notification_channels"] == "${var.notification_channels_critical}"
    assert "billingbudgets.googleapis.com" in root.locals["apis"]


def test_cloud_monitoring_dashboard_json(root: Module) -> None:
    text = DASHBOARD.read_text(encoding="utf-8")
    doc = json.loads(text)  # valid JSON before templatefile fills the placeholders
    tiles = doc["mosaicLayout"]["tiles"]
    titles = " | ".join(t["widget"]["title"] for t in tiles)
    for word in (
        "Bridge connections",
        "Predictions/s",
        "Latency end to end",
        "Latency per hop",
        "Dead letters",
        "Live accuracy",
    ):
        assert word in titles, word
    for t in tiles:
        assert t["xPos"] >= 0 and t["xPos"] + t["width"] <= doc["mosaicLayout"]["columns"]
    accuracy = next(t["widget"] for t in tiles if t["widget"]["title"] == "Live accuracy")
    assert "Firestore" in accuracy["text"]["content"] and "/stats" in accuracy["text"]["content"]
    filters = [
        ds["timeSeriesQuery"]["timeSeriesFilter"]["filter"]
        for t in tiles
        if "xyChart" in t["widget"]
        for ds in t["widget"]["xyChart"]["dataSets"]
    ]
    assert filters and all("metric.type" in f for f in filters)
    dead = " ".join(f for f in filters if "pubsub" in f)
    assert "dead_letter_message_count" in dead and "${deadletter_subscription}" in dead

    # The placeholders are exactly templatefile's arguments in dashboard.tf, and each
    # log-based metric placeholder names a google_logging_metric.
    tf = root.files["dashboard.tf"]
    assert 'templatefile("${path.module}/../dashboards/cloud-monitoring.json"' in tf
    call = tf[tf.index("templatefile(") : tf.index("})", tf.index("templatefile("))]
    args = dict(re.findall(r"^\s+(\w+)\s*=\s*(.+)$", call, flags=re.M))
    placeholders = set(re.findall(r"\$\{(\w+)\}", text))
    assert placeholders == set(args), placeholders ^ set(args)
    for m in _metric_types(text):
        if m.startswith("logging.googleapis.com/user/"):
            var = m.rsplit("/", 1)[1][2:-1]
            ref = args[var].strip()
            assert re.fullmatch(r"google_logging_metric\.\w+\.name", ref), ref
            assert ref.rsplit(".", 1)[0] in root.resources, ref
        else:
            assert m in DOCUMENTED_METRICS, m
    assert root.resources["google_monitoring_dashboard.main"]["depends_on"] == [
        "${google_project_service.enabled}"
    ]


def test_grafana_dashboard_json_queries_the_bridges_metrics() -> None:
    from tickcast.bridge.metrics import Metrics

    doc = json.loads(GRAFANA.read_text(encoding="utf-8"))
    assert doc["__inputs"][0]["pluginId"] == "prometheus"  # importable: asks for a data source
    exposed: set[str] = set()
    for family in Metrics().registry.collect():  # a counter is exposed as NAME_total
        if family.type == "histogram":
            exposed.update(family.name + part for part in ("_bucket", "_count", "_sum"))
        else:
            exposed.add(family.name + ("_total" if family.type == "counter" else ""))
    panels = doc["panels"]
    titles = " | ".join(p["title"] for p in panels)
    for word in ("connections", "frames", "Latency per hop", "Predictions", "accuracy"):
        assert word in titles, word
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    assert exprs
    for expr in exprs:
        names = set(re.findall(r"\btickcast_\w+", expr))
        assert names and names <= exposed, (expr, names - exposed)
    for p in panels:
        if p["type"] != "text":
            assert p["datasource"]["uid"] == "${DS_PROMETHEUS}"

"""End-to-end tests of the dashboard at /ui: the page in a real browser (Debian's Chromium, driven by Playwright)
against `runnel serve`, clicking what a user clicks. Usage: dashboard.py RUNNEL_BINARY [TEST_NAME...]; prints one
line per test and exits non-zero when any fails. Full-page screenshots of each page go to $RUNNEL_TEST_ARTIFACTS
(default: .build/test-artifacts/dashboard/ in the repository)."""

import atexit
import contextlib
import os
import re
import shutil
import tempfile
import time
from datetime import datetime, timezone

import requests
from playwright.sync_api import expect, sync_playwright

from rest_proxy import b64, consumer, create_topic, post, produce_json, read_until, run_suite

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
ARTIFACTS = os.environ.get("RUNNEL_TEST_ARTIFACTS") or os.path.join(REPO, ".build", "test-artifacts", "dashboard")
TIMEOUT_MS = 15_000

_browser = {}


def browser():
    """One Chromium for the whole file (Debian's package: Playwright never downloads a browser here)."""
    if "browser" not in _browser:
        executable = shutil.which("chromium") or shutil.which("chromium-browser")
        assert executable, "Chromium is not installed: run scripts/install-deps.sh"
        playwright = sync_playwright().start()
        _browser["playwright"] = playwright
        _browser["browser"] = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        atexit.register(_close_browser)
    return _browser["browser"]


def _close_browser():
    _browser.pop("browser").close()
    _browser.pop("playwright").stop()


@contextlib.contextmanager
def dashboard(server, route="#/overview", allowed_statuses=()):
    """A fresh browser page on `route`. When the block succeeds, the page must have logged no console error and
    thrown nothing, except the browser's own line for a request the test made the server reject on purpose."""
    context = browser().new_context(viewport={"width": 1280, "height": 860}, timezone_id="UTC", locale="en-US")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.goto(f"{server.url}/ui{route}")
    try:
        yield page
    finally:
        context.close()
    unexpected = [e for e in errors if not any(f"status of {status} " in e for status in allowed_statuses)]
    assert not unexpected, f"console errors: {unexpected}"


def screenshot(page, name):
    """A full-page screenshot from the top, once the messages of earlier steps are dismissed."""
    page.evaluate("document.querySelectorAll('#messages .toast-close').forEach((button) => button.click())")
    expect(page.locator("#messages .toast")).to_have_count(0)
    page.evaluate("window.scrollTo(0, 0)")
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, name), full_page=True)


def series_attribute(page, chart, series, attribute):
    return page.locator(f"#{chart} path.line[data-series='{series}']").get_attribute(attribute)


def wait_for_series(page, chart, series, condition, what):
    """Waits until the drawn series satisfies `condition`, a function of its points, max and last value (read from
    the path's data attributes: the page's Content-Security-Policy allows no code built from strings)."""
    path = page.locator(f"#{chart} path.line[data-series='{series}']")
    state = None
    deadline = time.time() + TIMEOUT_MS / 1000
    while time.time() < deadline:
        if path.count():
            state = {a: path.get_attribute(a) for a in ("data-points", "data-max", "data-last")}
            points, maximum = float(state["data-points"] or 0), float(state["data-max"] or 0)
            last = None if state["data-last"] in (None, "") else float(state["data-last"])
            if condition(points, maximum, last):
                return
        time.sleep(0.2)
    raise AssertionError(f"{what}: never held; the path is {state}")


def server_message(response):
    body = response.json()
    assert response.status_code >= 400 and body["message"], body
    return body["message"]


def normalized(text):
    return " ".join(text.split())


# MARK: - Tests


def test_overview_graphs_fill(server):
    """Traffic for a few seconds: the overview shows the cluster, and its graphs fill with the sampled rates; the
    page stops polling while the tab is hidden."""
    create_topic(server, "dash-traffic", partitions=2)
    deadline = time.time() + 5
    produced = 0
    while time.time() < deadline:
        produce_json(server, "dash-traffic", [{"value": {"n": produced + i}} for i in range(20)])
        produced += 20
        time.sleep(0.1)
    overview = requests.get(server.url + "/ui/api/overview").json()

    with dashboard(server) as page:
        expect(page.locator("#stat-cluster-id")).to_contain_text(server.cluster)
        expect(page.locator("#header-cluster")).to_have_text(server.cluster)
        expect(page.locator("#stat-topics")).to_have_text(str(overview["topics"]))
        expect(page.locator("#stat-partitions")).to_have_text(str(overview["partitions"]))
        expect(page.locator("#stat-uptime")).to_contain_text(re.compile(r"^\d+(s|m \d+s)"))

        for chart in ("chart-cluster-bytes", "chart-cluster-messages"):
            svg = page.locator(f"#{chart} svg")
            expect(svg).to_have_attribute("role", "img")
            expect(svg).to_have_attribute("aria-label", re.compile(r"per second: latest .+ samples"))
        wait_for_series(page, "chart-cluster-messages", "messages_in", lambda p, m, l: p >= 2 and m > 0, "messages/s")
        wait_for_series(page, "chart-cluster-bytes", "bytes_in", lambda p, m, l: p >= 2 and m > 0, "bytes in/s")
        wait_for_series(page, "chart-cluster-bytes", "bytes_out", lambda p, m, l: p >= 2, "bytes out/s")
        expect(page.locator("#chart-cluster-bytes svg text.tick").first).to_be_visible()
        assert page.locator("#chart-cluster-bytes svg text.tick", has_text=re.compile(r"B/s$")).count() >= 2
        assert page.locator("#chart-cluster-messages svg text.tick", has_text=re.compile(r"msg/s$")).count() >= 2
        expect(page.locator("#chart-cluster-bytes .legend")).to_contain_text("Bytes in")
        expect(page.locator("#chart-cluster-bytes .legend")).to_contain_text("Bytes out")

        # The drawn line is the server's series: as many points, and the same peak.
        series = requests.get(server.url + "/ui/api/series").json()
        rates = series["cluster"]["messages_in_per_sec"]
        assert len(rates) == len(series["timestamps"]) and max(rates) > 0, series
        points = int(series_attribute(page, "chart-cluster-messages", "messages_in", "data-points"))
        drawn_max = float(series_attribute(page, "chart-cluster-messages", "messages_in", "data-max"))
        assert abs(points - len(rates)) <= 1, (points, len(rates))
        assert abs(drawn_max - max(rates)) < 1e-6, (drawn_max, max(rates))
        assert max(rates) >= 20 / series["interval_seconds"], rates
        expect(page.locator("#busiest-topics")).to_contain_text("dash-traffic")
        expect(page.locator("#live")).to_contain_text("Live")
        expect(page.locator(".sidenav a[aria-current='page']")).to_have_text("Overview")
        screenshot(page, "overview.png")

        # Hidden tab: no polling at all; visible again: polling resumes at once.
        requests_seen = []
        page.on("request", lambda request: requests_seen.append(request.url) if "/api/" in request.url else None)
        page.evaluate("""() => {
            Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
            document.dispatchEvent(new Event('visibilitychange'));
        }""")
        expect(page.locator("#live")).to_contain_text("Paused")
        requests_seen.clear()
        page.wait_for_timeout(2600)  # more than one polling interval
        assert requests_seen == [], f"the hidden page still polls: {requests_seen}"
        with page.expect_request(re.compile(r"/ui/api/overview"), timeout=3000):
            page.evaluate("""() => {
                Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
                document.dispatchEvent(new Event('visibilitychange'));
            }""")
        expect(page.locator("#live")).to_contain_text("Live")


def test_topics(server):
    """Create a topic with the form, open it: partitions, configs and its latest records; a name the server
    refuses shows the server's message, and the page keeps working."""
    with dashboard(server, "#/topics", allowed_statuses=(400, 422)) as page:
        page.get_by_label("Topic name").fill("dash-orders")
        page.get_by_label("Partitions", exact=True).fill("3")
        page.get_by_role("button", name="Add a config").click()
        page.get_by_label("Config name").fill("retention.ms")
        page.get_by_label("Value", exact=True).fill("3600000")
        page.get_by_role("button", name="Create topic").click()
        expect(page.locator("#messages")).to_contain_text("Topic “dash-orders” created.")
        row = page.locator("#topics-table tr[data-topic='dash-orders']")
        expect(row.locator("td").nth(0)).to_have_text("3")
        expect(page.get_by_label("Topic name")).to_have_value("")
        topic = requests.get(server.v3 + "/topics/dash-orders")
        assert topic.status_code == 200 and topic.json()["partitions_count"] == 3, topic.text
        configs = {c["name"]: c["value"] for c in requests.get(server.v3 + "/topics/dash-orders/configs").json()["data"]}
        assert configs["retention.ms"] == "3600000", configs

        # Records with a key, a JSON value and a header, one that is not text, and a few in another partition.
        first = requests.post(server.v3 + "/topics/dash-orders/records", json={
            "partition_id": 0, "key": {"type": "STRING", "data": "order-1"},
            "value": {"type": "JSON", "data": {"item": "book", "qty": 2}},
            "headers": [{"name": "source", "value": b64("web")}]}).json()
        assert first["error_code"] == 200, first
        second = requests.post(server.v3 + "/topics/dash-orders/records", json={
            "partition_id": 0, "value": {"type": "BINARY", "data": b64(b"\xff\xfe\x00\x01")}}).json()
        assert second["error_code"] == 200, second
        produce_json(server, "dash-orders", [{"value": {"n": i}} for i in range(3)], partition=1)
        expect(row.locator("td").nth(1)).to_have_text("5")
        screenshot(page, "topics.png")

        row.get_by_role("link", name="dash-orders").click()
        expect(page).to_have_url(re.compile(r"#/topics/dash-orders$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("dash-orders")
        partitions = page.locator("#partitions-table tbody tr")
        expect(partitions).to_have_count(3)
        sizes = requests.get(server.url + "/ui/api/partitions").json()["partitions"]
        for p in (s for s in sizes if s["topic_name"] == "dash-orders"):
            cells = page.locator(f"#partitions-table tr[data-partition='{p['partition_id']}'] td")
            expect(cells.nth(0)).to_have_text(str(p["log_start_offset"]))
            expect(cells.nth(1)).to_have_text(str(p["log_end_offset"]))
            expect(cells.nth(3)).to_have_text(re.compile(r"^\d+(\.\d+)? (B|KB)$"))
            assert (p["size_bytes"] > 0) == (p["log_end_offset"] > 0), p
        expect(page.locator("#partitions-table tr[data-partition='0'] td").nth(1)).to_have_text("2")
        expect(page.locator("#partitions-table tr[data-partition='0'] td").nth(3)).not_to_have_text("0 B")
        expect(page.locator("#stat-topic-records")).to_have_text("5")
        assert page.locator("#configs-table tbody tr").count() >= 10
        expect(page.locator("#configs-table tr[data-config='retention.ms']")).to_contain_text("3600000")
        expect(page.locator("#configs-table tr[data-config='retention.ms']")).to_contain_text("topic")
        expect(page.locator("#configs-table tr[data-config='cleanup.policy']")).to_contain_text("delete")
        wait_for_series(page, "chart-topic-messages", "messages_in", lambda p, m, l: p >= 1, "the topic's messages/s")
        expect(page.locator("#chart-topic-bytes svg")).to_have_attribute("aria-label", re.compile("dash-orders"))

        # The button of a partition's row reads its latest records.
        page.get_by_role("button", name="Show records of partition 1").click()
        records = page.locator("#peek-table tbody tr")
        expect(records).to_have_count(3)
        expect(records.nth(2).locator("td").nth(2)).to_have_text('{"n":2}')
        expect(page.get_by_label("Partition", exact=True)).to_have_value("1")
        # The latest records of partition 0: key, value, header and timestamp, and the bytes that are not text.
        page.get_by_label("Partition", exact=True).select_option("0")
        page.get_by_role("button", name="Show records", exact=True).click()
        expect(records).to_have_count(2)
        cells = records.nth(0).locator("td")
        expect(records.nth(0).locator("th")).to_have_text("0")
        stamp = datetime.fromisoformat(first["timestamp"].replace("Z", "+00:00")).astimezone(timezone.utc)
        expect(cells.nth(0)).to_have_text(stamp.strftime("%Y-%m-%d %H:%M:%S.") + f"{stamp.microsecond // 1000:03d}")
        expect(cells.nth(1)).to_have_text("order-1")
        expect(cells.nth(2)).to_have_text('{"item":"book","qty":2}')
        expect(cells.nth(3)).to_have_text(re.compile(r"^source\s+web$"))
        second_cells = records.nth(1).locator("td")
        expect(second_cells.nth(1)).to_have_text("null")
        expect(second_cells.nth(2)).to_contain_text("binary · 4 B")
        expect(second_cells.nth(2)).to_contain_text("ff fe 00 01")
        expect(second_cells.nth(3)).to_have_text("none")
        screenshot(page, "topic-detail.png")

        # Names the server refuses: its message in the page, then the form still works.
        page.locator(".sidenav").get_by_role("link", name="Topics").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Topics")
        refused = server_message(requests.post(server.v3 + "/topics", json={"topic_name": "bad name!", "partitions_count": 1}))
        page.get_by_label("Topic name").fill("bad name!")
        page.get_by_role("button", name="Create topic").click()
        message = page.locator("#create-topic-form .form-message")
        expect(message).to_have_text(f"Could not create the topic: {refused}")
        expect(message).to_have_attribute("role", "alert")
        duplicate = server_message(requests.post(server.v3 + "/topics", json={"topic_name": "dash-orders", "partitions_count": 1}))
        page.get_by_label("Topic name").fill("dash-orders")
        page.get_by_role("button", name="Create topic").click()
        expect(message).to_have_text(f"Could not create the topic: {duplicate}")
        page.get_by_label("Topic name").fill("dash-after")
        page.get_by_role("button", name="Create topic").click()
        expect(page.locator("#topics-table tr[data-topic='dash-after']")).to_be_visible()
        expect(message).to_be_hidden()
        assert requests.get(server.v3 + "/topics/bad%20name!").status_code == 404

        # Deleting a topic from its page, once the browser's confirmation is accepted.
        page.locator("#topics-table").get_by_role("link", name="dash-after").click()
        expect(page.locator("#partitions-table tbody tr")).to_have_count(1)
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Delete topic").click()
        expect(page.locator("#messages")).to_contain_text("Topic “dash-after” deleted.")
        expect(page).to_have_url(re.compile(r"#/topics$"))
        expect(page.locator("#topics-table tr[data-topic='dash-orders']")).to_be_visible()
        expect(page.locator("#topics-table tr[data-topic='dash-after']")).to_have_count(0)
        assert requests.get(server.v3 + "/topics/dash-after").status_code == 404


def test_groups(server):
    """A group that read a topic and committed part of it: its state, members, assignments and lag per partition,
    and the lag graph."""
    create_topic(server, "dash-lag", partitions=2)
    produce_json(server, "dash-lag", [{"value": {"n": i}, "partition": i % 2} for i in range(10)])
    base = consumer(server, "dash-group", "c1", format="json", **{"auto.offset.reset": "earliest", "auto.commit.enable": "false"})
    try:
        assert post(base + "/subscription", {"topics": ["dash-lag"]}).status_code == 204
        assert len(read_until(base, 10)) == 10
        # v2 commits name the last record consumed: committed offsets 2 of 5 and 5 of 5.
        response = post(base + "/offsets", {"offsets": [{"topic": "dash-lag", "partition": 0, "offset": 1},
                                                         {"topic": "dash-lag", "partition": 1, "offset": 4}]})
        assert response.status_code == 200, response.text
        lags = {l["partition_id"]: l for l in requests.get(server.v3 + "/consumer-groups/dash-group/lags").json()["data"]}
        assert lags[0]["lag"] == 3 and lags[1]["lag"] == 0, lags

        with dashboard(server, "#/groups") as page:
            row = page.locator("#groups-table tr[data-group='dash-group']")
            expect(row.locator(".badge")).to_have_text("STABLE")
            expect(row.locator("td").nth(1)).to_have_text("1")
            expect(row.locator("td").nth(3)).to_have_text("3")
            screenshot(page, "groups.png")

            row.get_by_role("link", name="dash-group").click()
            expect(page).to_have_url(re.compile(r"#/groups/dash-group$"))
            expect(page.locator("#stat-group-state")).to_have_text("STABLE")
            expect(page.locator("#stat-group-members")).to_have_text("1")
            expect(page.locator("#stat-group-lag")).to_have_text("3")
            for partition, committed, end, lag in ((0, "2", "5", "3"), (1, "5", "5", "0")):
                cells = page.locator(f"#lag-table tr[data-topic='dash-lag'][data-partition='{partition}'] td")
                expect(cells.nth(1)).to_have_text(committed)
                expect(cells.nth(2)).to_have_text(end)
                expect(cells.nth(3)).to_have_text(lag)
                expect(cells.nth(5)).to_have_text("rest-c1")
            member = page.locator("#members-table tbody tr")
            expect(member).to_have_count(1)
            expect(member.locator(".chips li")).to_have_text(["dash-lag-0", "dash-lag-1"])
            expect(page.locator("#chart-group-lag svg")).to_have_attribute("role", "img")
            wait_for_series(page, "chart-group-lag", "lag", lambda p, m, l: p >= 2 and l == 3, "the lag graph")
            lag_series = requests.get(server.url + "/ui/api/series").json()["groups"]["dash-group"]["lag"]
            assert lag_series[-1] == 3, lag_series
            screenshot(page, "group-detail.png")
    finally:
        requests.delete(base)


def test_connectors(server):
    """A connector from a template through the form: running, paused, resumed, restarted, deleted; a failed task
    shows its trace; a config the worker refuses shows the worker's message."""
    work = tempfile.mkdtemp(prefix="dashboard-")
    source_file = os.path.join(work, "lines.txt")
    with open(source_file, "w") as file:
        file.write("alpha\nbeta\n")
    connect = server.url + "/connect"
    try:
        with dashboard(server, "#/connectors", allowed_statuses=(400,)) as page:
            page.once("dialog", lambda dialog: dialog.accept())
            expect(page.locator("#connector-list")).to_contain_text("No connectors yet")
            templates = [o.get_attribute("value") for o in page.locator("#connector-template option").all()]
            assert templates == ["sqlite-source", "s3-sink", "file-source", "file-sink"], templates
            page.get_by_label("Template", exact=True).select_option("file-source")
            expect(page.get_by_label("Connector name")).to_have_value("local-file-source")
            expect(page.get_by_label("connector.class", exact=True)).to_have_value("org.apache.kafka.connect.file.FileStreamSourceConnector")
            page.get_by_label("Connector name").fill("dash-file-source")
            page.get_by_label("file", exact=True).fill(source_file)
            page.get_by_label("topic", exact=True).fill("dash-connect")
            page.get_by_label("New key").fill("errors.tolerance")
            page.get_by_label("New value").fill("none")
            page.get_by_role("button", name="Add key").click()
            expect(page.get_by_label("errors.tolerance", exact=True)).to_have_value("none")
            page.get_by_role("button", name="Create connector").click()
            expect(page.locator("#messages")).to_contain_text("Connector “dash-file-source” created.")
            info = requests.get(connect + "/connectors/dash-file-source").json()
            assert info["config"]["file"] == source_file and info["config"]["errors.tolerance"] == "none", info
            assert info["config"]["batch.size"] == "2000", info

            card = page.locator("article.connector[data-name='dash-file-source']")
            expect(card).to_have_attribute("data-state", "RUNNING")
            expect(card.locator(".connector-title .badge")).to_have_text("RUNNING")
            expect(card.locator(".task[data-task='0']")).to_have_attribute("data-state", "RUNNING")
            expect(card).to_contain_text("dash-connect")

            def connector_state():
                return requests.get(connect + "/connectors/dash-file-source/status").json()["connector"]["state"]

            card.get_by_role("button", name="Pause").click()
            expect(card).to_have_attribute("data-state", "PAUSED")
            expect(card.locator(".task[data-task='0'] .badge")).to_have_text("PAUSED")
            assert connector_state() == "PAUSED"
            card.get_by_role("button", name="Resume").click()
            expect(card).to_have_attribute("data-state", "RUNNING")
            assert connector_state() == "RUNNING"
            card.get_by_role("button", name="Restart").click()
            expect(page.locator("#messages")).to_contain_text("Restart of “dash-file-source” requested.")
            expect(card).to_have_attribute("data-state", "RUNNING")
            expect(card.locator(".task[data-task='0']")).to_have_attribute("data-state", "RUNNING")

            # A sink whose file cannot be opened: its task fails, and the page shows the worker's trace.
            response = requests.post(connect + "/connectors", json={"name": "dash-broken-sink", "config": {
                "connector.class": "FileStreamSink", "topics": "dash-connect",
                "file": os.path.join(work, "missing", "out.txt")}})
            assert response.status_code == 201, response.text
            broken = page.locator("article.connector[data-name='dash-broken-sink']")
            expect(broken.locator(".task[data-task='0']")).to_have_attribute("data-state", "FAILED")
            expect(broken.locator(".task[data-task='0'] .badge")).to_have_text("FAILED")
            trace = requests.get(connect + "/connectors/dash-broken-sink/status").json()["tasks"][0]["trace"]
            assert "No such file or directory" in trace, trace
            broken.get_by_text("Trace of task 0").click()
            expect(broken.locator(".task[data-task='0'] pre")).to_be_visible()
            expect(broken.locator(".task[data-task='0'] pre")).to_have_text(trace.strip())
            expect(page.locator("#connector-summary")).to_contain_text("1 with a failed task")

            # A config the worker refuses: its message, in the form.
            page.get_by_label("Template", exact=True).select_option("file-sink")
            page.get_by_label("Connector name").fill("dash-bad-sink")
            page.get_by_label("tasks.max", exact=True).fill("abc")
            page.get_by_label("file", exact=True).fill(os.path.join(work, "sink.txt"))
            body = {"name": "dash-bad-sink", "config": {
                i.get_attribute("data-key"): i.input_value() for i in page.locator("#connector-config input").all()}}
            refused = server_message(requests.post(connect + "/connectors", json=body))
            assert "tasks.max" in refused, refused
            page.get_by_role("button", name="Create connector").click()
            message = page.locator("#create-connector-form .form-message")
            expect(message).to_contain_text("Invalid value abc for configuration tasks.max")
            assert normalized(message.inner_text()) == normalized(f"Could not create the connector: {refused}")
            assert requests.get(connect + "/connectors/dash-bad-sink").status_code == 404
            screenshot(page, "connectors.png")

            card.get_by_role("button", name="Delete").click()
            expect(card).to_have_count(0)
            expect(page.locator("#messages")).to_contain_text("Connector “dash-file-source” deleted.")
            assert "dash-file-source" not in requests.get(connect + "/connectors").json()
            expect(broken).to_be_visible()
    finally:
        requests.delete(connect + "/connectors/dash-broken-sink")
        shutil.rmtree(work, ignore_errors=True)


SHARED = [test_overview_graphs_fill, test_topics, test_groups, test_connectors]
OWN_SERVER = []


def main():
    run_suite(SHARED, OWN_SERVER)


if __name__ == "__main__":
    main()

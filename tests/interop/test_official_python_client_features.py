"""Issue #4's features through the official Python client (``reactor-sdk`` 1.13.0), end to end.

Uploads with ``FileRef`` arguments, publishing an input track, pause/resume of an output track,
``reconnect()`` keeping the session's state, and a second client adopting the session. Each
scenario is one ``netns-run`` launch (``official_harness.launch``) shared by the tests of its
fixture; the driver (``official_client_driver.py``) uses only the official client's public API
and the tests assert on what its user sees: return values, messages, frames, session status.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from official_harness import explain, launch

# -- uploads (model ``echo``) --------------------------------------------------------------------


@pytest.fixture(scope="module")
def upload_run() -> dict[str, Any]:
    return launch("upload", model="echo")


def described(driver: dict[str, Any], key: str) -> dict[str, Any]:
    """How the echo model must describe the upload ``key`` (``upload_bytes`` …) of the driver."""
    source = {"upload_bytes": "photo", "upload_path": "second", "upload_fileobj": "third"}[key]
    ref = driver[key]["ref"]
    return {
        "upload_id": ref["upload_id"],
        "name": ref["name"],
        "mime_type": ref["mime_type"],
        "size": driver["sent"][source]["size"],
        "sha256": driver["sent"][source]["sha256"],
    }


def test_upload_file_returns_a_fileref_for_bytes_path_and_file_object(upload_run: dict[str, Any]) -> None:
    driver = upload_run["driver"]
    refs = {key: driver[key]["ref"] for key in ("upload_bytes", "upload_path", "upload_fileobj")}
    expected = {
        "upload_bytes": ("photo.png", "image/png", driver["sent"]["photo"]["size"]),
        "upload_path": ("second.jpg", "image/jpeg", driver["sent"]["second"]["size"]),
        "upload_fileobj": ("third.bin", "application/octet-stream", driver["sent"]["third"]["size"]),
    }
    for key, (name, mime_type, size) in expected.items():
        ref = refs[key]
        assert (ref["name"], ref["mime_type"], ref["size"]) == (name, mime_type, size), explain(upload_run)
        assert isinstance(ref["upload_id"], str) and ref["upload_id"], explain(upload_run)
    assert len({ref["upload_id"] for ref in refs.values()}) == 3, explain(upload_run)


def test_command_with_a_fileref_reaches_the_model_as_the_uploaded_bytes(upload_run: dict[str, Any]) -> None:
    driver = upload_run["driver"]
    outcome = driver["describe"]
    assert outcome["raised"] is None, explain(upload_run)
    reply = outcome["returned"]
    assert reply["type"] == "echo" and reply["data"]["command"] == "describe", explain(upload_run)
    # Name, size and SHA-256 of the bytes the model read match what the client sent.
    assert reply["data"]["data"] == {
        "photo": described(driver, "upload_bytes"),
        "transition": 0.5,
    }, explain(upload_run)


def test_filerefs_nested_in_a_list_and_a_dict_resolve_too(upload_run: dict[str, Any]) -> None:
    driver = upload_run["driver"]
    outcome = driver["nested"]
    assert outcome["raised"] is None, explain(upload_run)
    assert outcome["returned"]["data"]["data"] == {
        "frames": [described(driver, "upload_bytes"), described(driver, "upload_path")],
        "meta": {"cover": described(driver, "upload_fileobj"), "label": "x"},
    }, explain(upload_run)


def test_upload_replies_also_reach_on_message(upload_run: dict[str, Any]) -> None:
    driver = upload_run["driver"]
    assert driver["messages"] == [driver["describe"]["returned"], driver["nested"]["returned"]], explain(
        upload_run
    )
    assert driver["errors"] == [] and driver["disconnect"]["status"] == "disconnected", explain(upload_run)
    assert upload_run["server_exit_status"] == 0, explain(upload_run)


# -- an input track (model ``webcam``) -----------------------------------------------------------

# The driver pushes LEFT | RIGHT halves (official_client_driver.LEFT_RGB / RIGHT_RGB).
LEFT_RGB = (224, 32, 160)
RIGHT_RGB = (32, 224, 96)
BORDER_RGB = (255, 160, 0)
STRIPE_MEAN = 64  # the idle stripes alternate 40 and 88
TOLERANCE = 20  # two VP8 passes and two RGB<->YUV conversions


def webcam_effect(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """The webcam model's colour transform as documented: four levels per channel, red minus 1/4."""
    r, g, b = (32 + 64 * (v // 64) for v in rgb)
    return (r - r // 4, g, b)


def near(got: list[float], want: tuple[int, ...], tolerance: float = TOLERANCE) -> bool:
    return all(abs(g - w) <= tolerance for g, w in zip(got, want, strict=True))


@pytest.fixture(scope="module")
def webcam_run() -> dict[str, Any]:
    return launch("webcam", model="webcam")


def test_webcam_model_shows_the_idle_stripes_before_anyone_publishes(webcam_run: dict[str, Any]) -> None:
    idle = webcam_run["driver"]["idle_before"]
    assert idle["frames"] >= 10, explain(webcam_run)
    sample = idle["last"]
    assert sample["std"] > 12, explain(webcam_run)  # striped, not flat
    assert near(sample["left"], (STRIPE_MEAN,) * 3, 12), explain(webcam_run)
    assert near(sample["border"], BORDER_RGB), explain(webcam_run)


def test_published_webcam_comes_back_mirrored_and_transformed(webcam_run: dict[str, Any]) -> None:
    driver = webcam_run["driver"]
    assert driver["publish"]["published"] is True, explain(webcam_run)
    assert driver["push"]["push_errors"] == [], explain(webcam_run)
    published = driver["published"]
    assert published["transformed_seen"], explain(webcam_run)
    # Every frame after the first transformed one stays transformed (the input keeps flowing).
    assert published["frames_after"] >= 10 and published["all_transformed"], explain(webcam_run)
    last = published["samples"][-1]
    # Mirrored: the right half of the input shows on the left of the output.
    assert near(last["left"], webcam_effect(RIGHT_RGB)), explain(webcam_run)
    assert near(last["right"], webcam_effect(LEFT_RGB)), explain(webcam_run)
    assert last["std"] < 6 and near(last["border"], BORDER_RGB), explain(webcam_run)


def test_unpublish_brings_the_idle_stripes_back(webcam_run: dict[str, Any]) -> None:
    driver = webcam_run["driver"]
    unpublished = driver["unpublished"]
    assert unpublished["idle_seen"], explain(webcam_run)
    assert unpublished["track_published"] is False, explain(webcam_run)
    assert near(unpublished["samples"][0]["left"], (STRIPE_MEAN,) * 3, 12), explain(webcam_run)
    assert driver["errors"] == [] and webcam_run["server_exit_status"] == 0, explain(webcam_run)


# -- pause / resume of an output track (model ``probe``) ----------------------------------------


@pytest.fixture(scope="module")
def pause_run() -> dict[str, Any]:
    return launch("pause")


def test_pause_stops_the_frames(pause_run: dict[str, Any]) -> None:
    driver = pause_run["driver"]
    assert driver["before"]["decoded"] >= 15, explain(pause_run)
    assert driver["paused_tracks_after_pause"] == ["main_video"], explain(pause_run)
    paused = driver["paused"]
    # Frames already on their way may land; then they stop (a full second without one), and what
    # trickled in is at most a second of video (30 fps), not a stream that went on.
    assert paused["stopped"], explain(pause_run)
    assert paused["frames_after_pause"] <= 30, explain(pause_run)


def test_resume_brings_frames_with_later_counters(pause_run: dict[str, Any]) -> None:
    driver = pause_run["driver"]
    resumed = driver["resumed"]
    assert driver["paused_tracks_after_resume"] == [], explain(pause_run)
    assert resumed["reached"] and resumed["decoded"] >= 15, explain(pause_run)
    assert resumed["strictly_increasing"], explain(pause_run)
    # The model kept running while this connection was paused: the counter moved on.
    assert resumed["first"] > driver["paused"]["last_counter"], explain(pause_run)
    assert driver["errors"] == [] and pause_run["server_exit_status"] == 0, explain(pause_run)


# -- reconnect() keeps the session and its state (model ``probe``) ------------------------------

RECONNECT_VALUE = 777  # official_client_driver.RECONNECT_VALUE


@pytest.fixture(scope="module")
def reconnect_run() -> dict[str, Any]:
    # Info logs (and enough of them) show which connection id each negotiation used.
    return launch("reconnect", server_log_level="info", server_log_chars=400_000)


def test_reconnect_resumes_the_same_session_with_its_state(reconnect_run: dict[str, Any]) -> None:
    driver = reconnect_run["driver"]
    assert driver["set_value"]["raised"] is None, explain(reconnect_run)
    assert driver["before"]["last_value"] == RECONNECT_VALUE, explain(reconnect_run)
    reconnect = driver["reconnect"]
    assert reconnect["status"] == "ready", explain(reconnect_run)
    assert reconnect["statuses"][0] == "disconnected" and reconnect["statuses"][-1] == "ready", explain(
        reconnect_run
    )
    assert reconnect["session_id"] == driver["before"]["session_id"] is not None, explain(reconnect_run)
    assert reconnect_run["session"]["after_reconnect"] == 200, explain(reconnect_run)
    after = driver["after"]
    assert after["reached"] and after["decoded"] >= 30, explain(reconnect_run)
    # The model's state survived: the value is still drawn and the counter did not restart.
    assert after["values"] == [RECONNECT_VALUE], explain(reconnect_run)
    assert after["first"] > after["counter_before"], explain(reconnect_run)
    assert after["strictly_increasing"], explain(reconnect_run)
    assert driver["errors"] == [], explain(reconnect_run)
    assert reconnect_run["session"]["after_disconnect"] == 404, explain(reconnect_run)


def test_reconnect_renegotiates_on_the_same_connection_id(reconnect_run: dict[str, Any]) -> None:
    log = reconnect_run["server_log"]
    created = re.findall(r'"POST /sessions/[^/]+/transport/webrtc/connections HTTP', log)
    offers = re.findall(
        r'"(POST|PUT) /sessions/[^/]+/transport/webrtc/connections/(\d+)/sdp_params HTTP', log
    )
    connected = re.findall(r"connection (\d+): connected", log)
    assert len(created) == 1, explain(reconnect_run)  # one connection id for the whole run
    assert [method for method, _ in offers] == ["POST", "PUT"], explain(reconnect_run)
    assert len({cid for _, cid in offers} | set(connected)) == 1, explain(reconnect_run)
    assert len(connected) == 2, explain(reconnect_run)


# -- a second client adopts the session (model ``echo``) ----------------------------------------


@pytest.fixture(scope="module")
def multi_run() -> dict[str, Any]:
    return launch("multi", model="echo")


def test_second_client_adopts_the_session_and_both_stream(multi_run: dict[str, Any]) -> None:
    driver = multi_run["driver"]
    a, b = driver["connect_a"], driver["connect_b"]
    assert a["status"] == b["status"] == "ready", explain(multi_run)
    assert b["session_id"] == a["session_id"] is not None, explain(multi_run)
    assert multi_run["session"]["both_connected"] == 200, explain(multi_run)
    stream = driver["both_stream"]
    assert stream["a_reached"] and stream["b_reached"], explain(multi_run)
    assert stream["b_shape"] == [360, 640, 3], explain(multi_run)


def test_command_replies_go_only_to_the_sender(multi_run: dict[str, Any]) -> None:
    driver = multi_run["driver"]
    b_reply = driver["b_command"]["returned"]
    a_reply = driver["a_command"]["returned"]
    assert b_reply == {"type": "echo", "data": {"command": "set_value", "data": {"value": 7}}}, explain(
        multi_run
    )
    assert a_reply == {"type": "echo", "data": {"command": "from_a", "data": {"n": 1}}}, explain(multi_run)
    assert driver["b_messages"] == [b_reply], explain(multi_run)
    assert driver["a_messages"] == [a_reply], explain(multi_run)


def test_adopter_leaving_keeps_the_session(multi_run: dict[str, Any]) -> None:
    driver = multi_run["driver"]
    assert driver["b_disconnect"]["status"] == "disconnected", explain(multi_run)
    assert multi_run["session"]["after_b_disconnect"] == 200, explain(multi_run)
    after = driver["after_b_left"]
    assert after["a_reached"] and after["a_status"] == "ready", explain(multi_run)
    assert after["b_frames"] == 0, explain(multi_run)
    assert driver["a_command_after_b_left"]["raised"] is None, explain(multi_run)
    assert driver["errors_b"] == [], explain(multi_run)


def test_creator_leaving_ends_the_session(multi_run: dict[str, Any]) -> None:
    driver = multi_run["driver"]
    assert driver["a_disconnect"]["status"] == "disconnected", explain(multi_run)
    assert multi_run["session"]["after_a_disconnect"] == 404, explain(multi_run)
    assert driver["errors"] == [], explain(multi_run)
    assert multi_run["driver_exit_status"] == 0 and multi_run["server_exit_status"] == 0, explain(multi_run)

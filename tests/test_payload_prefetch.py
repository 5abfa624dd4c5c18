"""The next clip's audio and spectrogram are made with its plan, while the expert listens."""

import threading

import numpy as np
import pytest
import soundfile as sf

from alwidget.session import Session
from alwidget.session import payloads
from alwidget.session.payloads import DISPLAY_FRAMES, PAYLOADS, PayloadCache, make_payload
from alwidget.session.planner import Planner
from alwidget.widgets import LabelingWidget
from alwidget.widgets.payload import PAYLOAD_TRAITS, clip_payload
from test_widgets import project


@pytest.fixture(autouse=True)
def fresh_cache():
    PAYLOADS.clear()
    yield
    PAYLOADS.clear()


@pytest.fixture
def made(monkeypatch):
    """The clips whose payload was made (by any thread), in order."""
    calls = []
    real = payloads.make_payload

    def counting(path, start_s, duration_s, params=payloads.PayloadParams()):
        calls.append((path, start_s))
        return real(path, start_s, duration_s, params)

    monkeypatch.setattr(payloads, "make_payload", counting)
    return calls


def test_the_answer_finds_the_next_clip_made_and_it_is_what_the_file_holds(tmp_path, made):
    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    w = LabelingWidget(s, context_s=0.5)
    w.decide("label", "yes")  # the first answer after the view opened may wait for its clip
    for k in range(8):
        s._planner.wait()  # the expert listens: plans and their clips are made meanwhile
        hits, misses = PAYLOADS.hits, PAYLOADS.misses
        w.decide("label", "yes" if k % 3 == 0 else "no")
        assert w.error == ""
        # made ahead (the clips of answers planned meanwhile may be asked for too)
        assert PAYLOADS.misses == misses and PAYLOADS.hits > hits
        p = s.current
        fresh = make_payload(p.path, p.start_s, p.duration_s, payloads.PayloadParams(context_s=0.5))
        assert w.audio == fresh.wav and w.spec == fresh.spec  # the clip shown, as the view asked
        assert w.clip_offset_s == fresh.clip_offset_s <= 0.5
    assert s.n_sync_plans == 0
    s.close()


def test_no_view_no_audio_decoded_and_a_closed_view_stops_it(tmp_path, made):
    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    for label in ("yes", "no", "no"):
        s._planner.wait()
        s.submit(label)
    s._planner.wait()
    assert made == []  # nobody shows the session's clips: nothing decoded ahead
    w = LabelingWidget(s)
    w.decide("label", "no")
    s._planner.wait()
    assert len(made) > 1  # the clip shown and the next clips of the answers to it
    w.close()
    for label in ("no", "yes"):  # the clips prepared for the closed view's last clip
        s.submit(label)
        s._planner.wait()
    n = len(made)
    s.submit("no")
    s._planner.wait()
    assert len(made) == n  # then nothing more
    s.close()


def test_a_payload_asked_for_while_being_made_is_made_once(tmp_path, monkeypatch, made):
    path = tmp_path / "a.wav"
    sf.write(path, np.random.default_rng(0).normal(size=16000 * 5) * 0.1, 16000)
    cache = PayloadCache()
    cache.get(str(path), 1.0, 1.0)  # a view shows clip 1
    started, release, waiting = threading.Event(), threading.Event(), threading.Event()
    real = payloads.make_payload

    def slow(*args):
        started.set()
        release.wait()
        return real(*args)

    making = payloads._Making

    def watched():  # a payload being made: note when a thread waits for it
        m = making()
        wait = m.done.wait
        m.done.wait = lambda timeout=None: waiting.set() or wait(timeout)
        return m

    monkeypatch.setattr(payloads, "make_payload", slow)
    monkeypatch.setattr(payloads, "_Making", watched)
    ahead = threading.Thread(target=cache.prepare, args=(str(path), 2.0, 1.0),
                             kwargs=dict(like=[(str(path), 1.0, 1.0)]))
    ahead.start()
    started.wait()
    got = []
    asking = threading.Thread(target=lambda: got.append(cache.get(str(path), 2.0, 1.0)))
    asking.start()
    waiting.wait()  # the view's request waits for the payload being made ahead
    release.set()
    ahead.join()
    asking.join()
    assert (cache.hits, cache.misses) == (1, 1)  # clip 1 was made when asked, clip 2 ahead
    assert got[0] is cache.get(str(path), 2.0, 1.0)


def test_a_file_written_anew_is_read_anew_and_errors_are_raised_when_asked(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, np.zeros(16000 * 3), 16000)
    cache = PayloadCache()
    quiet = cache.get(str(path), 1.0, 1.0)
    sf.write(path, np.random.default_rng(1).normal(size=16000 * 4) * 0.1, 16000)
    loud = cache.get(str(path), 1.0, 1.0)
    assert loud.wav != quiet.wav and loud.window_s == 3.0
    missing = str(tmp_path / "gone.wav")
    assert not cache.prepare(missing, 0.0, 1.0, like=[(str(path), 1.0, 1.0)])  # never raises
    with pytest.raises(Exception, match="gone.wav"):
        cache.get(missing, 0.0, 1.0)


def test_payloads_are_as_small_as_the_display_needs(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, np.random.default_rng(0).normal(size=48000 * 20) * 0.1, 48000)
    p = make_payload(str(path), 10.0, 5.0)  # a 7-s window at 48 kHz
    assert p.sample_rate == 32000 and p.wav[:4] == b"RIFF"
    assert len(p.wav) == 44 + 2 * 32000 * 7  # 16-bit mono, nothing else
    rows, cols = p.spec_shape
    assert rows == 128 and cols <= DISPLAY_FRAMES and len(p.spec) == rows * cols
    assert cols >= DISPLAY_FRAMES - 5  # and no coarser than the plot's pixels


def test_the_planner_prepares_each_plan_after_it_and_drops_what_is_stale():
    calls = []
    started, release = threading.Event(), threading.Event()

    class State:
        def __init__(self, key):
            self.key = key

    class Plan:
        def __init__(self, state):
            self.state = state

    def make_plan(state):
        calls.append(("plan", state.key))
        if state.key == "a":
            started.set()
            release.wait()
        return Plan(state)

    planner = Planner(make_plan, prepare=lambda plan: calls.append(("prepare", plan.state.key)))
    planner.start([State("a"), State("b")])
    started.wait()
    planner.start([State("c")])  # the answer came: a runs on, its payload and b never start
    release.set()
    planner.wait()
    assert calls == [("plan", "a"), ("plan", "c"), ("prepare", "c")]
    planner.start([State("d"), State("e")])
    planner.wait()
    assert calls[3:] == [("plan", "d"), ("prepare", "d"), ("plan", "e"), ("prepare", "e")]
    planner.close()


def test_upcoming_tells_the_next_clip_of_each_answer_before_it_is_given(tmp_path):
    s = Session(project(tmp_path, n_files=10), classes=["yes", "no"], random_state=0)
    told, first = [], []
    s.observe(lambda session: told.append(threading.current_thread().name), upcoming=True)
    for answer in ("yes", "no", "no", "yes", "no"):
        s._planner.wait()
        shown = s.current.clip_id
        planned = s.upcoming()
        if s.current.predicted is not None:  # the likeliest answer is planned first
            first.append(planned[0].label == s.current.predicted)
        ahead = {(u.action, u.label): u for u in planned}
        assert set(ahead) == {("label", "no"), ("label", "yes"), ("skip", None)}
        assert {u.after for u in ahead.values()} == {shown}
        s.submit(answer)
        assert s.current == ahead[("label", answer)].proposal  # what a view could show at once
    assert first and all(first)
    s._planner.wait()  # the plans of the last answer are all told before counting
    assert told and all(name.startswith("alwidget-plan") for name in told)  # planner's thread
    n = len(told)
    s.unobserve(told.append)  # not this callback: nothing changes
    s.observe(told.append, upcoming=True)
    s.unobserve(told.append)
    s.skip()
    s._planner.wait()
    assert len(told) == n + 3  # the first callback still hears each answer's plan
    s.close()
    (tmp_path / "b").mkdir()
    assert Session(project(tmp_path / "b", n_files=4), classes=["no", "yes"],
                   precompute=False).upcoming() == []


def test_the_spectrogram_is_librosas_mel_spectrogram(tmp_path):
    librosa = pytest.importorskip("librosa")
    y = np.random.default_rng(1).normal(size=16000 * 3).astype(np.float32) * 0.1
    path = tmp_path / "a.wav"
    sf.write(path, y, 16000, subtype="FLOAT")
    p = make_payload(str(path), 0.0, 3.0, payloads.PayloadParams(context_s=0.0))
    rows, cols = p.spec_shape
    hop = int(np.ceil(len(y) / (DISPLAY_FRAMES - 1)))
    S = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=2048, hop_length=hop, n_mels=128,
                                       fmin=50.0, fmax=8000.0)
    D = 10 * np.log10(np.maximum(S, 1e-12))
    expect = np.clip((D - (D.max() - 80)) / 80 * 255, 0, 255).astype(np.uint8)
    got = np.frombuffer(p.spec, np.uint8).reshape(rows, cols)
    assert got.shape == expect.shape and np.abs(got.astype(int) - expect).max() <= 1


def _sent(monkeypatch, w):
    """The messages ``w`` sends to the browser: (message, buffers)."""
    out = []
    monkeypatch.setattr(w, "_send", lambda msg, buffers=None: out.append((msg, buffers or [])))
    return out


def _updated(sent) -> set:
    """The traits sent in state updates (binary ones travel as buffers)."""
    return {k for m, _ in sent if m["method"] == "update"
            for k in [*m["state"], *(p[0] for p in m["buffer_paths"])]}


def test_the_browser_gets_the_next_clip_of_each_answer_and_it_is_not_sent_again(tmp_path,
                                                                                 monkeypatch):
    s = Session(project(tmp_path), classes=["no", "yes"], random_state=0)
    w = LabelingWidget(s, context_s=0.5)
    sent = _sent(monkeypatch, w)
    w.decide("label", "yes")
    s._planner.wait()
    w._send_upcoming()  # (in a kernel, the planner's notices call it on the main thread)
    shown = w.status["clip_id"]
    ups = {(m["content"]["action"], m["content"]["label"]): (m["content"], b)
           for m, b in sent if m["method"] == "custom" and m["content"]["type"] == "upcoming"
           and m["content"]["after"] == shown}
    assert {("label", "no"), ("label", "yes"), ("skip", None)} <= set(ups)
    by_answer = {(u.action, u.label): u.proposal for u in s.upcoming()}
    for answer, (content, buffers) in ups.items():
        p = by_answer[answer]
        pay = clip_payload(p.path, p.start_s, p.duration_s, context_s=0.5)
        assert content["after"] == shown and content["status"]["clip_id"] == p.clip_id
        assert [bytes(b) for b in buffers] == [pay.wav, pay.spec]
        assert content["traits"]["clip_offset_s"] == pay.clip_offset_s
    n = len(sent)
    w._send_upcoming()
    assert len(sent) == n  # each once

    # the browser showed the clip of "no" at the key press: the kernel stores the answer and
    # sends the status, not the audio and image again
    content, _ = ups[("label", "no")]
    sent.clear()
    w._on_message(w, {"type": "decide", "action": "label", "label": "no", "clip_id": shown,
                      "shows": content["status"]["clip_id"]}, [])
    assert w.error == "" and w.status["clip_id"] == content["status"]["clip_id"]
    keys = _updated(sent)
    assert "status" in keys and not keys & {"audio", "spec"}
    assert w.audio == bytes(ups[("label", "no")][1][0])  # the kernel holds what is shown

    # the browser showed a clip the kernel does not (a refused decision): all sent again
    sent.clear()
    w._on_message(w, {"type": "decide", "action": "label", "label": "no", "clip_id": -1,
                      "shows": 12345}, [])
    assert "no longer shown" in w.error
    keys = _updated(sent)
    assert set(PAYLOAD_TRAITS) | {"status", "region"} <= keys
    assert sum("audio" in _updated([m]) for m in sent) == 1  # in one message, once

    # the decision stored, but the kernel's next clip is not the one the browser showed
    # (another session took it meanwhile, say): that clip is sent whole
    sent.clear()
    shown = w.status["clip_id"]
    w._on_message(w, {"type": "decide", "action": "label", "label": "yes", "clip_id": shown,
                      "shows": 12345}, [])
    assert w.error == "" and w.status["clip_id"] != shown
    assert set(PAYLOAD_TRAITS) | {"status", "region"} <= _updated(sent)
    assert sum("audio" in _updated([m]) for m in sent) == 1

    # settings come by message (the browser never sends its state: it sets the clip shown
    # ahead on its model itself); only settings, checked
    sent.clear()
    now = w.status["clip_id"]
    for name, value in [("colormap", "magma"), ("region", [0.1, 0.2]), ("status", {}),
                        ("gain", 99.0)]:
        w._on_message(w, {"type": "set", "name": name, "value": value}, [])
    assert w.colormap == "magma" and w.region == [0.1, 0.2] and w.gain == 1.0
    assert "colormap" not in _updated(sent) and "region" not in _updated(sent)  # no echo
    assert "gain" in _updated(sent)  # a refused value: the one in force is sent back
    assert w.status["clip_id"] == now
    assert "gain=99.0 must be" in w.error
    w.close()
    s.close()

// The join page's call panel (templates/joining/_call.html): a device check with a live preview and
// a microphone meter, a join token from the portal, then the ACS call. The calling bundle (~7 MB) is
// downloaded only when the portal answers with a real token: on the emulator nothing big loads.
(() => {
  const SECONDS = 1000;
  // Each wait has an end, so a stalled network or a call that never connects says so.
  const TOKEN_TIMEOUT = 20 * SECONDS;
  const BUNDLE_TIMEOUT = 90 * SECONDS; // a slow phone connection still gets the bundle
  const AGENT_TIMEOUT = 30 * SECONDS;
  const CONNECT_TIMEOUT = 30 * SECONDS;
  const DEFAULT_NOTICE =
    "This portal runs on the ACS emulator: the call itself needs a real Azure Communication " +
    "Services resource. Your device check and your join token worked.";
  const STATES = {
    None: "Starting the call…",
    Connecting: "Connecting…",
    Ringing: "Connecting…",
    EarlyMedia: "Connecting…",
    InLobby: "Waiting in the lobby…",
    Connected: "Connected",
    LocalHold: "On hold",
    RemoteHold: "On hold",
    Disconnecting: "Leaving…",
    Disconnected: "Disconnected",
  };
  // What an ended call's code means to the person in it (CallEndReason.code is an HTTP-like code).
  const END_REASONS = {
    0: "the call ended",
    401: "your join token was not accepted",
    403: "you may not join this room now (check the room's dates and your invitation)",
    404: "the room's call was not found",
    408: "the call service did not answer in time",
    410: "the connection to the call was lost",
    480: "the call service could not be reached",
    487: "the join was cancelled",
    500: "the call service had an error",
    503: "the call service is unavailable",
  };

  let bundle = null;

  function timeout(promise, ms, message) {
    let timer;
    const expired = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    });
    return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
  }

  // One <script> for the page, added on the first real join; window.AcsCalling is its API.
  function loadBundle(url) {
    if (window.AcsCalling) return Promise.resolve(window.AcsCalling);
    bundle ??= new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = url;
      script.async = true;
      script.onload = () =>
        window.AcsCalling
          ? resolve(window.AcsCalling)
          : reject(new Error("The calling library loaded but did not start."));
      script.onerror = () => {
        script.remove();
        reject(new Error("The calling library could not be downloaded: check your connection, then try again."));
      };
      document.head.append(script);
    }).catch((error) => {
      bundle = null; // the next try downloads again
      throw error;
    });
    return timeout(bundle, BUNDLE_TIMEOUT, "The calling library took too long to download: check your connection, then try again.");
  }

  function csrfToken(panel) {
    if (panel.dataset.csrf) return panel.dataset.csrf;
    const cookie = document.cookie.split("; ").find((part) => part.startsWith("csrftoken="));
    return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : "";
  }

  // The portal's answer: {token, room_id, emulated, notice, ...} or {error} with a 4xx status.
  async function requestToken(panel) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), TOKEN_TIMEOUT);
    let response;
    try {
      response = await fetch(panel.dataset.tokenUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(panel), Accept: "application/json" },
        signal: abort.signal,
      });
    } catch (error) {
      throw new Error(
        error.name === "AbortError"
          ? "The portal took too long to answer: try again in a moment."
          : "The portal could not be reached: check your connection, then try again.",
      );
    } finally {
      clearTimeout(timer);
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      // Not JSON (a proxy's error page, an expired sign-in): the status still says something.
    }
    if (!response.ok) {
      throw new Error(body?.error || `The portal did not give a join token (HTTP ${response.status}). Reload the page and try again.`);
    }
    if (!body || (!body.emulated && (typeof body.token !== "string" || !body.room_id))) {
      throw new Error("The portal's answer could not be read. Reload the page and try again.");
    }
    return body;
  }

  function describeMediaError(error) {
    switch (error?.name) {
      case "NotAllowedError":
      case "SecurityError":
        return "You did not allow this page to use your camera and microphone. Allow them from the " +
          "icon in your browser's address bar, then choose \"Check my devices again\". You can also " +
          "join without them, to watch and listen.";
      case "NotFoundError":
      case "OverconstrainedError":
        return "No camera or microphone was found. You can still join, to watch and listen.";
      case "NotReadableError":
      case "AbortError":
        return "Your camera or microphone could not start: another application may be using it. " +
          "Close it, then choose \"Check my devices again\".";
      default:
        return `Your camera and microphone could not start (${error?.message || error?.name || "unknown error"}).`;
    }
  }

  function setUp(panel) {
    const find = (name) => panel.querySelector(`[data-call-${name}]`);
    const ui = {
      status: find("status"),
      error: find("error"),
      notice: find("notice"),
      preview: find("preview"),
      localView: find("local-view"),
      noVideo: find("no-video"),
      remote: find("remote"),
      levelRow: find("level-row"),
      level: find("level"),
      cameraRow: find("camera-row"),
      camera: find("camera"),
      microphoneRow: find("microphone-row"),
      microphone: find("microphone"),
      devices: find("devices"),
      mic: find("toggle-mic"),
      cam: find("toggle-camera"),
      recheck: find("recheck"),
      join: find("join"),
      leave: find("leave"),
    };
    const displayName = panel.dataset.displayName || "";
    // What the person chose before joining; the call starts with the same.
    const wants = { camera: true, microphone: true };
    let preview = null; // {stream, audio: AudioContext, frame}
    let session = null; // {client, agent, call, camera, localVideo, localRenderer, remotes, timer, leaving}
    let emulated = false; // the portal said there is no call to join: Join stays away

    const say = (text) => {
      ui.status.textContent = text;
    };
    const showError = (text) => {
      ui.error.textContent = text;
      ui.error.hidden = !text;
    };

    function hasTrack(kind) {
      return Boolean(preview?.stream.getTracks().some((track) => track.kind === kind));
    }

    function refreshButtons() {
      const inCall = Boolean(session?.call);
      const canMic = inCall || hasTrack("audio");
      const canCam = inCall ? Boolean(session.camera) : hasTrack("video");
      const micOn = inCall ? !session.call.isMuted : wants.microphone && canMic;
      const camOn = inCall ? Boolean(session.localVideo) : wants.camera && canCam;
      ui.mic.disabled = !canMic;
      ui.mic.textContent = micOn ? "Mute microphone" : "Unmute microphone";
      ui.cam.disabled = !canCam;
      ui.cam.textContent = camOn ? "Turn camera off" : "Turn camera on";
      // Your own picture: the preview before the call, the SDK's view in it.
      ui.preview.hidden = inCall || !camOn;
      ui.localView.hidden = !inCall || !camOn;
      ui.noVideo.hidden = camOn;
      ui.noVideo.textContent = canCam ? "Camera off" : "No camera";
      ui.devices.hidden = inCall;
      ui.join.hidden = inCall || emulated;
      ui.leave.hidden = !inCall;
    }

    function stopPreview() {
      if (!preview) return;
      cancelAnimationFrame(preview.frame);
      preview.stream.getTracks().forEach((track) => track.stop());
      preview.audio?.close();
      ui.preview.srcObject = null;
      ui.levelRow.hidden = true;
      preview = null;
    }

    // The meter follows the microphone's loudness, so a person sees that it hears them.
    function startMeter(stream) {
      const AudioContextClass = window.AudioContext || window.webkitAudioContext;
      if (!AudioContextClass || !stream.getAudioTracks().length) return null;
      const audio = new AudioContextClass();
      const analyser = audio.createAnalyser();
      analyser.fftSize = 1024;
      audio.createMediaStreamSource(stream).connect(analyser);
      const samples = new Float32Array(analyser.fftSize);
      let level = 0;
      const tick = () => {
        analyser.getFloatTimeDomainData(samples);
        const rms = Math.sqrt(samples.reduce((sum, sample) => sum + sample * sample, 0) / samples.length);
        // Rise at once, fall slowly: a word stays visible long enough to be seen.
        level = Math.max(Math.min(1, rms * 4), level * 0.9);
        ui.level.value = level;
        preview.frame = requestAnimationFrame(tick);
      };
      // A browser may keep audio suspended until the person touches the page.
      if (audio.state === "suspended") {
        const resume = () => audio.resume();
        panel.addEventListener("pointerdown", resume, { once: true });
        panel.addEventListener("keydown", resume, { once: true });
      }
      ui.levelRow.hidden = false;
      return { audio, tick };
    }

    function fillSelect(select, row, devices, currentId, fallback) {
      select.replaceChildren(
        ...devices.map((device, index) => {
          const option = new Option(device.label || `${fallback} ${index + 1}`, device.deviceId);
          option.selected = device.deviceId === currentId;
          return option;
        }),
      );
      // A choice only when there is one to make.
      row.hidden = devices.length < 2;
    }

    async function listDevices() {
      const devices = await navigator.mediaDevices.enumerateDevices();
      const current = (kind) =>
        preview?.stream.getTracks().find((track) => track.kind === kind)?.getSettings().deviceId;
      fillSelect(ui.camera, ui.cameraRow, devices.filter((d) => d.kind === "videoinput"), current("video"), "Camera");
      fillSelect(ui.microphone, ui.microphoneRow, devices.filter((d) => d.kind === "audioinput"), current("audio"), "Microphone");
    }

    // Both devices if possible, else whichever one works: a laptop without a camera still joins.
    // After a call, announce=false keeps its ending (status and error) in view.
    async function openDevices({ announce = true } = {}) {
      stopPreview();
      if (announce) showError("");
      ui.recheck.hidden = true;
      if (!navigator.mediaDevices?.getUserMedia) {
        showError("This browser cannot use a camera or microphone on this page (it needs HTTPS). You can still join, to watch and listen.");
        ui.join.disabled = false;
        refreshButtons();
        return;
      }
      if (announce) say("Asking for your camera and microphone…");
      const chosen = (select) => (select.value ? { deviceId: { exact: select.value } } : true);
      const attempts = [
        { audio: chosen(ui.microphone), video: chosen(ui.camera) },
        { audio: chosen(ui.microphone) },
        { video: chosen(ui.camera) },
      ];
      let stream = null;
      let failure = null;
      for (const constraints of attempts) {
        try {
          stream = await navigator.mediaDevices.getUserMedia(constraints);
          break;
        } catch (error) {
          failure ??= error;
          // Refused: asking again for less would only show the person the same question.
          if (error.name === "NotAllowedError" || error.name === "SecurityError") break;
        }
      }
      ui.join.disabled = false;
      if (!stream) {
        showError(describeMediaError(failure));
        if (announce) say("Device check: no camera or microphone in use.");
        ui.recheck.hidden = false;
        refreshButtons();
        return;
      }
      preview = { stream, audio: null, frame: 0 };
      stream.getAudioTracks().forEach((track) => (track.enabled = wants.microphone));
      stream.getVideoTracks().forEach((track) => (track.enabled = wants.camera));
      ui.preview.srcObject = stream;
      const meter = startMeter(stream);
      if (meter) {
        preview.audio = meter.audio;
        meter.tick();
      }
      await listDevices();
      const video = stream.getVideoTracks().length > 0;
      const audio = stream.getAudioTracks().length > 0;
      if (!announce) {
        refreshButtons();
        return;
      }
      say(
        video && audio
          ? "Device check: your camera and microphone work. Join when you are ready."
          : video
            ? "Device check: no microphone was found, so others will not hear you. You can still join."
            : "Device check: no camera was found; you join with your microphone only.",
      );
      refreshButtons();
    }

    function toggleBeforeCall(kind) {
      wants[kind] = !wants[kind];
      const trackKind = kind === "camera" ? "video" : "audio";
      preview?.stream.getTracks().forEach((track) => {
        if (track.kind === trackKind) track.enabled = wants[kind];
      });
      refreshButtons();
    }

    // ---- the call (real ACS only) ----

    function pick(sdkDevices, select) {
      const option = select.selectedOptions[0];
      return (
        sdkDevices.find((device) => option && (device.id.endsWith(option.value) || device.name === option.text)) ??
        sdkDevices[0] ??
        null
      );
    }

    async function renderInto(container, stream, sdk) {
      const renderer = new sdk.VideoStreamRenderer(stream);
      const view = await renderer.createView({ scalingMode: "Crop" });
      container.replaceChildren(view.target);
      return renderer;
    }

    function watchRemote(participant, sdk) {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.className = "call-remote-name";
      name.textContent = participant.displayName || "Guest";
      const video = document.createElement("div");
      video.className = "call-remote-video";
      item.append(video, name);
      ui.remote.append(item);
      const entry = { item, renderer: null };
      const show = async (stream) => {
        if (stream.isAvailable && !entry.renderer) {
          entry.renderer = await renderInto(video, stream, sdk);
        } else if (!stream.isAvailable && entry.renderer) {
          entry.renderer.dispose();
          entry.renderer = null;
          video.replaceChildren();
        }
      };
      const follow = (stream) => {
        stream.on("isAvailableChanged", () => show(stream).catch(sdkError));
        show(stream).catch(sdkError);
      };
      participant.videoStreams.forEach(follow);
      participant.on("videoStreamsUpdated", ({ added }) => added.forEach(follow));
      participant.on("displayNameChanged", () => {
        name.textContent = participant.displayName || "Guest";
      });
      session.remotes.set(participant, entry);
      ui.remote.hidden = false;
    }

    function forgetRemote(participant) {
      const entry = session?.remotes.get(participant);
      if (!entry) return;
      entry.renderer?.dispose();
      entry.item.remove();
      session.remotes.delete(participant);
      ui.remote.hidden = session.remotes.size === 0;
    }

    function sdkError(error) {
      showError(`The call reported an error: ${error?.message || error}`);
    }

    function endReasonText(reason) {
      if (!reason) return "Disconnected.";
      const meaning = END_REASONS[reason.code] ?? "the call ended";
      const detail = reason.subCode ? `code ${reason.code}, subcode ${reason.subCode}` : `code ${reason.code}`;
      return `Disconnected: ${session?.leaving ? "you left the call" : meaning} (${detail}).`;
    }

    // Drop everything the SDK holds, so the person can check devices and join again.
    async function endSession(statusText) {
      const ended = session;
      if (!ended) return;
      session = null;
      clearTimeout(ended.timer);
      ended.localRenderer?.dispose();
      ended.remotes.forEach((entry) => entry.renderer?.dispose());
      ui.remote.replaceChildren();
      ui.remote.hidden = true;
      ui.localView.replaceChildren();
      say(statusText);
      ui.join.textContent = "Join again";
      refreshButtons();
      try {
        await ended.agent?.dispose();
      } catch {
        // Already gone with the call: nothing more to free.
      }
      openDevices({ announce: false });
    }

    function watchCall(call, sdk) {
      call.on("stateChanged", () => {
        if (call.state === "Connected") clearTimeout(session?.timer);
        if (call.state === "Disconnected") {
          endSession(endReasonText(call.callEndReason));
          return;
        }
        say(STATES[call.state] ?? call.state);
      });
      call.on("isMutedChanged", refreshButtons);
      call.on("remoteParticipantsUpdated", ({ added, removed }) => {
        added.forEach((participant) => watchRemote(participant, sdk));
        removed.forEach(forgetRemote);
      });
      call.remoteParticipants.forEach((participant) => watchRemote(participant, sdk));
      // data-connect-seconds shortens the wait (the tests use it); 30 seconds otherwise.
      const seconds = Number(panel.dataset.connectSeconds) || CONNECT_TIMEOUT / SECONDS;
      session.timer = setTimeout(() => {
        if (session?.call !== call || call.state === "Connected") return;
        showError(`The call did not connect within ${seconds} seconds. Check your network, then join again.`);
        call.hangUp().catch(() => endSession("Disconnected: the call did not connect."));
      }, seconds * SECONDS);
    }

    async function startCall(answer) {
      say("Loading the calling library…");
      const sdk = await loadBundle(panel.dataset.bundleUrl);
      say("Connecting…");
      const client = new sdk.CallClient();
      const credential = new sdk.AzureCommunicationTokenCredential(answer.token);
      const agent = await timeout(
        client.createCallAgent(credential, { displayName }),
        AGENT_TIMEOUT,
        "The call service did not answer within 30 seconds. Check your network, then join again.",
      );
      const current = {
        client,
        agent,
        call: null,
        camera: null,
        localVideo: null,
        localRenderer: null,
        remotes: new Map(),
        timer: 0,
        leaving: false,
      };
      session = current;
      const devices = await client.getDeviceManager();
      const microphones = await devices.getMicrophones();
      if (microphones.length) await devices.selectMicrophone(pick(microphones, ui.microphone));
      current.camera = pick(await devices.getCameras(), ui.camera);
      // The SDK opens the devices itself; a phone may not lend one camera to two streams.
      stopPreview();
      if (current.camera && wants.camera) current.localVideo = new sdk.LocalVideoStream(current.camera);
      const call = agent.join(
        { roomId: answer.room_id },
        {
          audioOptions: { muted: !wants.microphone },
          videoOptions: current.localVideo ? { localVideoStreams: [current.localVideo] } : undefined,
        },
      );
      current.call = call;
      watchCall(call, sdk);
      refreshButtons();
      ui.leave.focus();
      // The call is on from here: a view that fails to render is reported, not a failed join.
      if (current.localVideo) {
        renderInto(ui.localView, current.localVideo, sdk)
          .then((renderer) => {
            if (session === current && current.localVideo) current.localRenderer = renderer;
            else renderer.dispose();
          })
          .catch(sdkError);
      }
    }

    async function toggleCameraInCall() {
      const sdk = window.AcsCalling;
      const { call } = session;
      if (session.localVideo) {
        const stream = session.localVideo;
        session.localVideo = null;
        session.localRenderer?.dispose();
        session.localRenderer = null;
        await call.stopVideo(stream);
      } else {
        session.localVideo = new sdk.LocalVideoStream(session.camera);
        await call.startVideo(session.localVideo);
        session.localRenderer = await renderInto(ui.localView, session.localVideo, sdk);
      }
      wants.camera = Boolean(session.localVideo);
      refreshButtons();
    }

    async function join() {
      ui.join.disabled = true;
      showError("");
      say("Getting your join token…");
      let answer;
      try {
        answer = await requestToken(panel);
      } catch (error) {
        showError(error.message);
        say("Not joined.");
        ui.join.disabled = false;
        return;
      }
      if (answer.emulated) {
        // The emulator has no media servers: say so and stop here, with nothing more loaded.
        ui.notice.textContent = answer.notice || DEFAULT_NOTICE;
        ui.notice.hidden = false;
        emulated = true;
        refreshButtons();
        say("Not joined: there is no call on the ACS emulator.");
        return;
      }
      try {
        await startCall(answer);
      } catch (error) {
        showError(`Could not join the call: ${error?.message || error}`);
        const failed = session;
        session = null;
        failed?.agent?.dispose().catch(() => {});
        say("Not joined.");
        ui.join.disabled = false;
        refreshButtons();
        if (!preview) openDevices({ announce: false });
      }
    }

    const guard = (action) => () => action().catch(sdkError);
    ui.join.addEventListener("click", join);
    ui.recheck.addEventListener("click", () => openDevices());
    ui.camera.addEventListener("change", () => openDevices());
    ui.microphone.addEventListener("change", () => openDevices());
    ui.mic.addEventListener(
      "click",
      guard(async () => {
        if (!session?.call) return toggleBeforeCall("microphone");
        await (session.call.isMuted ? session.call.unmute() : session.call.mute());
        wants.microphone = !session.call.isMuted;
        refreshButtons();
      }),
    );
    ui.cam.addEventListener(
      "click",
      guard(async () => (session?.call ? toggleCameraInCall() : toggleBeforeCall("camera"))),
    );
    ui.leave.addEventListener(
      "click",
      guard(async () => {
        if (!session?.call) return;
        session.leaving = true;
        say("Leaving…");
        await session.call.hangUp();
      }),
    );
    // A headset plugged in or out: the lists follow.
    navigator.mediaDevices?.addEventListener?.("devicechange", () => {
      if (preview) listDevices().catch(() => {});
    });
    // Leaving the page hangs up, so the room does not keep a ghost participant.
    window.addEventListener("pagehide", () => session?.call?.hangUp().catch(() => {}));

    refreshButtons();
    openDevices();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-call-panel]").forEach(setUp);
  });
})();

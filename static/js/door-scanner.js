// The door's camera scanner: progressive enhancement of templates/admin/door/door.html.
//
// Without this script the door page works as it is: type or paste a ticket's code or
// link, the form checks it in. With it, the "Scanned tickets" panel appears; where the
// browser has a camera API, a button starts the camera, and every QR code read is checked
// in at once through POST /api/v1/admin/checkins, its answer shown big ("Admitted",
// "Already in at 19:02", "Wrong screening") with colour, text, an aria-live region and a
// short vibration.
//
// - Decoding: the browser's BarcodeDetector where it reads QR codes; otherwise the
//   vendored jsQR (static/vendor/jsqr), loaded from this server only when needed.
// - Every read, from the camera or anywhere else, is a `festival:scan` CustomEvent on
//   the document whose detail is the text read (a token or a ticket URL). The camera
//   dispatches it; so can a hardware scanner's glue code, and so do the browser tests.
// - Network drops: a scan that cannot reach the server is kept in localStorage (per
//   screening) and sent again, oldest first, when the browser is back online (and every
//   few seconds until then). Each answer is shown when it arrives, a clash (the ticket
//   checked in meanwhile at another door) included; only an answer removes a scan from
//   the queue. Offline, the typed form queues too instead of failing.
// - Texts all come from the page's data-text-* attributes, translated by the template.

const root = document.getElementById("door-scanner");

if (root) {
  start(root);
}

function start(root) {
  const data = root.dataset;
  const screeningId = Number(data.screeningId);
  const queueKey = `festival.door.queue.${screeningId}`;
  const part = (name) => root.querySelector(`[data-scanner="${name}"]`);
  const text = (key, values = {}) =>
    (data[key] || "").replace(/\{(\w+)\}/g, (match, name) =>
      name in values ? String(values[name]) : match);
  // Times as the server writes them (festival.core.i18n.FORMAT_LOCALES: English as en-GB).
  const lang = data.timeLocale || document.documentElement.lang || undefined;

  const result = part("result");
  const headline = part("headline");
  const detail = part("detail");
  const queueNote = part("queue");
  const log = part("log");
  const logHeading = part("log-heading");

  // --- times at the venue ---------------------------------------------------------------

  function venueTime(iso) {
    if (!iso) return "";
    const moment = new Date(iso);
    try {
      return new Intl.DateTimeFormat(lang, {
        hour: "numeric", minute: "2-digit", timeZone: data.timezone || undefined,
      }).format(moment);
    } catch (error) {
      return iso.slice(11, 16); // the wall-clock time the server wrote
    }
  }

  // --- showing results ------------------------------------------------------------------

  function show(kind, title, more, note) {
    result.className = `scan-result scan-result--shown scan-result--${kind}`;
    headline.textContent = title;
    detail.textContent = more || "";
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.className = "scan-log__kind";
    label.textContent = title;
    item.append(note ? `${note}: ` : "", label, more ? ` · ${more}` : "");
    log.prepend(item);
    while (log.children.length > 20) log.lastElementChild.remove();
    logHeading.hidden = false;
    if (navigator.vibrate) {
      try {
        navigator.vibrate(kind === "admitted" ? 120 : [90, 60, 90, 60, 90]);
      } catch (error) { /* no vibration: the text says it */ }
    }
  }

  function party(registration) {
    return registration
      ? text("textParty", { name: registration.name, num: registration.seats })
      : "";
  }

  // Shows the server's answer; true when it is final (the scan leaves the queue).
  async function answer(response, note) {
    let body = {};
    try {
      body = await response.json();
    } catch (error) { /* an answer without JSON: judged by its status */ }
    if (response.ok && body.registration) {
      show("admitted", text("textAdmitted"), party(body.registration), note);
      return true;
    }
    const error = body.error || {};
    const registration = error.registration;
    if (response.status === 409 && error.code === "already_checked_in") {
      show("already", text("textAlready", { time: venueTime(error.checked_in_at) }),
        [party(registration), error.message].filter(Boolean).join(" · "), note);
      return true;
    }
    if (response.status === 409 && error.code === "wrong_screening") {
      show("refused", text("textWrong"),
        [party(registration), error.message].filter(Boolean).join(" · "), note);
      return true;
    }
    if (response.status === 401 || response.status >= 500 || response.status === 429) {
      // Not an answer about the ticket: the scan stays queued. Said once, not every retry.
      const title = text(response.status === 401 ? "textSignedOut" : "textServerError");
      if (headline.textContent !== title) show("queued", title, "", note);
      return false;
    }
    const title = response.status === 404 ? text("textUnknown") : text("textRefused");
    show("refused", title, [party(registration), error.message].filter(Boolean).join(" · "),
      note);
    return true;
  }

  // --- the server -----------------------------------------------------------------------

  function send(token) {
    return fetch(data.api, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ token, screening_id: screeningId }),
    });
  }

  // --- the queue of scans waiting for the network ----------------------------------------

  function readQueue() {
    try {
      const queue = JSON.parse(localStorage.getItem(queueKey) || "[]");
      return Array.isArray(queue) ? queue : [];
    } catch (error) {
      return [];
    }
  }

  // The scans in memory, written through to localStorage (kept across a reload).
  let pending = readQueue();
  const queue = () => pending;

  function writeQueue(scans) {
    pending = scans;
    try {
      if (scans.length) localStorage.setItem(queueKey, JSON.stringify(scans));
      else localStorage.removeItem(queueKey);
    } catch (error) { /* storage full or off: the scans stay in memory */ }
    queueNote.hidden = scans.length === 0;
    queueNote.textContent = scans.length ? text("textWaiting", { num: scans.length }) : "";
  }

  function enqueue(token) {
    writeQueue([...queue(), { token, scanned_at: new Date().toISOString() }]);
    show("queued", text("textQueued"), text("textWaiting", { num: queue().length }));
  }

  let syncing = false;

  async function sync() {
    if (syncing) return;
    syncing = true;
    try {
      while (queue().length) {
        const [first] = queue();
        let response;
        try {
          response = await send(first.token);
        } catch (error) {
          return; // still offline: the next try comes with "online" or the timer
        }
        const note = text("textSynced", { time: venueTime(first.scanned_at) });
        const final = await answer(response, note);
        if (!final) return;
        writeQueue(queue().filter((scan) => scan !== first));
      }
    } finally {
      syncing = false;
    }
  }

  // --- one scan at a time ---------------------------------------------------------------

  let chain = Promise.resolve();

  function scan(value) {
    const token = String(value || "").trim().slice(0, 300);
    if (!token) return chain;
    chain = chain.then(async () => {
      if (queue().length) {
        // Earlier scans are waiting: this one waits behind them, so order is kept.
        writeQueue([...queue(), { token, scanned_at: new Date().toISOString() }]);
        await sync();
        if (queue().length) show("queued", text("textQueued"), text("textWaiting", { num: queue().length }));
        return;
      }
      let response;
      try {
        response = await send(token);
      } catch (error) {
        enqueue(token);
        return;
      }
      if (!(await answer(response))) {
        writeQueue([...queue(), { token, scanned_at: new Date().toISOString() }]);
      }
    });
    return chain;
  }

  document.addEventListener("festival:scan", (event) => {
    scan(typeof event.detail === "string" ? event.detail : event.detail && event.detail.token);
  });

  // Offline, the typed form would fail: it queues instead. Online it posts as without JS.
  const ticketInput = document.getElementById("ticket");
  const ticketForm = ticketInput && ticketInput.form;
  if (ticketForm) {
    ticketForm.addEventListener("submit", (event) => {
      if (navigator.onLine !== false) return;
      event.preventDefault();
      scan(ticketInput.value);
      ticketInput.value = "";
      ticketInput.focus();
    });
  }

  window.addEventListener("online", () => { chain = chain.then(sync); });
  setInterval(() => {
    if (queue().length && navigator.onLine !== false) chain = chain.then(sync);
  }, 5000);

  // --- the camera -----------------------------------------------------------------------

  const startButton = part("start");
  const stopButton = part("stop");
  const video = part("video");
  const cameraState = part("camera-state");
  let stream = null;
  let timer = null;
  let lastRead = { value: "", at: 0 };

  async function detector() {
    if ("BarcodeDetector" in window) {
      try {
        const formats = await window.BarcodeDetector.getSupportedFormats();
        if (formats.includes("qr_code")) {
          const native = new window.BarcodeDetector({ formats: ["qr_code"] });
          return async (source) => {
            const codes = await native.detect(source);
            return codes.length ? codes[0].rawValue : null;
          };
        }
      } catch (error) { /* fall back on jsQR */ }
    }
    if (!window.jsQR) {
      await new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = data.decoder;
        script.onload = resolve;
        script.onerror = reject;
        document.head.append(script);
      });
    }
    const canvas = document.createElement("canvas");
    const context = canvas.getContext("2d", { willReadFrequently: true });
    return async (source) => {
      const width = source.videoWidth;
      const height = source.videoHeight;
      if (!width || !height) return null;
      canvas.width = width;
      canvas.height = height;
      context.drawImage(source, 0, 0, width, height);
      const image = context.getImageData(0, 0, width, height);
      const code = window.jsQR(image.data, width, height, { inversionAttempts: "dontInvert" });
      return code ? code.data : null;
    };
  }

  async function startCamera() {
    try {
      const read = await detector();
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment" }, audio: false,
      });
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
      startButton.hidden = true;
      stopButton.hidden = false;
      cameraState.textContent = text("textCameraOn");
      const tick = async () => {
        if (!stream) return;
        try {
          const value = await read(video);
          const now = Date.now();
          // A code held in front of the camera is read many times a second: once is enough.
          if (value && (value !== lastRead.value || now - lastRead.at > 4000)) {
            lastRead = { value, at: now };
            document.dispatchEvent(new CustomEvent("festival:scan", { detail: value }));
          } else if (value) {
            lastRead.at = now;
          }
        } catch (error) { /* a frame that could not be read */ }
        if (stream) timer = setTimeout(tick, 200);
      };
      tick();
    } catch (error) {
      stopCamera();
      cameraState.textContent = text("textCameraError");
    }
  }

  function stopCamera() {
    clearTimeout(timer);
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
    video.hidden = true;
    stopButton.hidden = true;
    startButton.hidden = false;
    cameraState.textContent = "";
  }

  if (navigator.mediaDevices && typeof navigator.mediaDevices.getUserMedia === "function") {
    startButton.hidden = false;
    startButton.addEventListener("click", startCamera);
    stopButton.addEventListener("click", () => {
      stopCamera();
      startButton.focus();
    });
  }

  root.hidden = false;
  writeQueue(queue());
  if (queue().length && navigator.onLine !== false) chain = chain.then(sync);
}

// Passkeys (WebAuthn Level 3) on idgate's pages: sign in, second factor, add a passkey.
// Loaded as a file (the pages' CSP is script-src 'self', no inline script). Every element
// with data-passkey="sign-in|second-factor|register" is a button that runs its ceremony;
// the options and verify URLs come from data-options / data-verify, the CSRF token from the
// page's form. The sign-in page also starts passkey autofill (conditional mediation) when the
// browser has it, so a passkey can be picked from the username field's suggestions.
"use strict";

(function () {
  const toBytes = (b64url) => {
    const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
  };
  const toB64url = (buffer) => {
    let bin = "";
    new Uint8Array(buffer).forEach((b) => { bin += String.fromCharCode(b); });
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };

  // JSON options -> the ArrayBuffers navigator.credentials wants (or the browser's own parser).
  function creationOptions(json) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      user: Object.assign({}, json.user, { id: toBytes(json.user.id) }),
      excludeCredentials: (json.excludeCredentials || []).map((c) => Object.assign({}, c, { id: toBytes(c.id) })),
    });
  }
  function requestOptions(json) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      allowCredentials: (json.allowCredentials || []).map((c) => Object.assign({}, c, { id: toBytes(c.id) })),
    });
  }
  function credentialJSON(cred) {
    if (typeof cred.toJSON === "function") {
      try { return cred.toJSON(); } catch (e) { /* fall through to the manual form */ }
    }
    const r = cred.response;
    const response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      if (r.userHandle) response.userHandle = toB64url(r.userHandle);
    }
    return { id: cred.id, rawId: toB64url(cred.rawId), type: cred.type, response: response,
             authenticatorAttachment: cred.authenticatorAttachment || null, clientExtensionResults: {} };
  }

  const csrf = () => {
    const field = document.querySelector("input[name=csrf_token]");
    return field ? field.value : "";
  };
  async function post(url, body) {
    const reply = await fetch(url, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try { data = await reply.json(); } catch (e) { /* not JSON: a proxy's error page */ }
    if (!reply.ok) {
      const error = new Error(data.error_description || "Something went wrong. Try again.");
      error.location = data.location;
      throw error;
    }
    return data;
  }

  function say(text) {
    const box = document.getElementById("passkey-error");
    if (!box) return;
    box.querySelector(".passkey-error-text").textContent = text;
    box.hidden = false;
  }
  function cancelled(err) {
    // NotAllowedError: the user closed the dialog, or it timed out; AbortError: we aborted it.
    return err && (err.name === "NotAllowedError" || err.name === "AbortError");
  }

  let autofill = null; // the AbortController of a pending conditional request

  async function signIn(button, conditional) {
    const options = requestOptions(await post(button.dataset.options));
    const request = { publicKey: options };
    if (conditional) {
      autofill = new AbortController();
      request.mediation = "conditional";
      request.signal = autofill.signal;
    }
    const cred = await navigator.credentials.get(request);
    const done = await post(button.dataset.verify, { credential: credentialJSON(cred) });
    window.location.assign(done.location);
  }

  async function register(button) {
    const nameField = document.getElementById(button.dataset.nameField || "");
    const options = creationOptions(await post(button.dataset.options));
    const cred = await navigator.credentials.create({ publicKey: options });
    const done = await post(button.dataset.verify, {
      credential: credentialJSON(cred), name: nameField ? nameField.value : "" });
    window.location.assign(done.location);
  }

  async function run(button) {
    if (autofill) { autofill.abort(); autofill = null; }
    button.disabled = true;
    try {
      if (button.dataset.passkey === "register") await register(button);
      else await signIn(button, false);
    } catch (err) {
      if (err && err.location) { window.location.assign(err.location); return; }
      if (err && err.name === "InvalidStateError") say("This passkey is already registered on your account.");
      else if (cancelled(err)) say("No passkey was used. Try again, or sign in another way.");
      else say(err && err.message ? err.message : "The passkey did not work. Try again.");
    } finally {
      button.disabled = false;
    }
  }

  function start() {
    const buttons = document.querySelectorAll("[data-passkey]");
    if (!window.PublicKeyCredential || !navigator.credentials) {
      buttons.forEach((b) => { b.hidden = true; });
      const note = document.getElementById("passkey-unsupported");
      if (note) note.hidden = false;
      return;
    }
    buttons.forEach((b) => {
      b.hidden = false;
      b.addEventListener("click", (event) => { event.preventDefault(); run(b); });
    });
    const auto = document.querySelector("[data-passkey=sign-in][data-autofill]");
    if (auto && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then((yes) => {
        if (!yes) return;
        signIn(auto, true).catch((err) => {
          if (!cancelled(err)) say(err && err.message ? err.message : "The passkey did not work. Try again.");
        });
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

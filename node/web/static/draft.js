// Co-signing an alliance draft in the browser (WebCrypto Ed25519), and checking a terms
// document against the draft's digest. The wallet is read from a local file and used here
// only: the one request this page makes carries the finished record, never the key.
"use strict";

(function () {
  const PREFIX = "rakuichi-record-v1\u0000";
  const form = document.getElementById("cosign");
  const result = document.getElementById("cosign-result");
  const termsFile = document.getElementById("terms-file");

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  function unhex(text) {
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
    return out;
  }
  function equal(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
  function compare(a, b) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  }
  function fromBase64(text) {
    const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "="));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }
  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }
  function say(element, text, good) {
    element.textContent = text;
    element.className = good ? "ok" : "error";
    element.hidden = false;
  }

  if (termsFile) {
    const out = document.getElementById("terms-result");
    termsFile.addEventListener("change", async () => {
      const file = termsFile.files[0];
      if (!file) return;
      const digest = hex(await sha256(new Uint8Array(await file.arrayBuffer())));
      const ok = digest === termsFile.dataset.digest;
      say(out, ok ? out.dataset.ok : out.dataset.bad, ok);
    });
  }

  if (!form) return;
  const msg = (name) => form.dataset["msg" + name];
  form.hidden = false;

  // The finished record's wire bytes from the signing input and the signatures: the core map
  // {author, body, created, kind, v} becomes {author, body, created, kind, sigs, v} (keys in
  // canonical order), so "sigs" goes in before the final "v": 1.
  function wireBytes(input, sigs) {
    const core = input.slice(PREFIX.length);
    const tail = [0xa1, 0x76, 0x01];
    if (core[0] !== 0x85 || !equal(core.slice(core.length - 3), Uint8Array.from(tail))) {
      throw new Error("tampered");
    }
    if (sigs.length > 15) throw new Error("tampered");
    sigs.sort((a, b) => compare(a[0], b[0]));
    const parts = [[0x86], core.slice(1, core.length - 3), [0xa4, 0x73, 0x69, 0x67, 0x73], [0x90 | sigs.length]];
    for (const [key, sig] of sigs) {
      parts.push([0x92, 0xc4, key.length], key, [0xc4, sig.length], sig);
    }
    parts.push(tail);
    const size = parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  async function readWallet(file) {
    const text = await file.text();
    if (text.includes("ENCRYPTED PRIVATE KEY")) throw new Error("encrypted");
    const match = text.match(/-----BEGIN PRIVATE KEY-----([\s\S]+?)-----END PRIVATE KEY-----/);
    if (!match) throw new Error("unreadable");
    let key;
    try {
      key = await crypto.subtle.importKey("pkcs8", fromBase64(match[1].replace(/\s+/g, "")), { name: "Ed25519" }, true, ["sign"]);
    } catch (e) {
      throw new Error("unreadable");
    }
    const jwk = await crypto.subtle.exportKey("jwk", key);
    return { key, publicKey: fromBase64(jwk.x) };
  }

  async function draftChecks(input, id, author, sigs) {
    if (!equal(await sha256(input), id)) throw new Error("tampered");
    const orgSig = sigs.find(([k]) => equal(k, author));
    if (!orgSig) throw new Error("tampered");
    const orgKey = await crypto.subtle.importKey("raw", author, { name: "Ed25519" }, false, ["verify"]);
    if (!(await crypto.subtle.verify({ name: "Ed25519" }, orgKey, orgSig[1], input))) {
      throw new Error("tampered");
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = document.getElementById("wallet").files[0];
    if (!file) return;
    if (!window.crypto || !crypto.subtle) {
      say(result, msg("NoWebcrypto"), false);
      return;
    }
    say(result, msg("Signing"), true);
    const input = unhex(form.dataset.input);
    const id = unhex(form.dataset.id);
    const author = unhex(form.dataset.author);
    const member = unhex(form.dataset.member);
    const sigs = form.dataset.sigs
      .split(",")
      .filter((s) => s)
      .map((pair) => pair.split(":").map(unhex));
    let wire;
    try {
      const wallet = await readWallet(file);
      if (!equal(wallet.publicKey, member)) throw new Error("wrong-member");
      await draftChecks(input, id, author, sigs);
      const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, wallet.key, input));
      wire = wireBytes(input, [...sigs.filter(([k]) => !equal(k, member)), [member, signature]]);
    } catch (e) {
      const known = { encrypted: "Encrypted", unreadable: "Unreadable", "wrong-member": "WrongMember", tampered: "Tampered" };
      say(result, msg(known[e.message] || "NoWebcrypto"), false);
      return;
    }
    const response = await fetch("/v1/records", {
      method: "POST",
      headers: { "Content-Type": "application/msgpack" },
      body: wire,
    });
    const answer = await response.json().catch(() => ({}));
    if (response.ok) {
      say(result, msg("Done").replace("{id}", answer.id || form.dataset.id), true);
      result.dataset.wire = hex(wire);
      form.hidden = true;
    } else {
      say(result, msg("Refused").replace("{detail}", answer.detail || response.status), false);
    }
  });
})();

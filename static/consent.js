/* Lethe consent banner. <script src="https://LETHE/consent.js" data-workspace="SLUG" defer>
 * No dependencies. Blocked scripts: <script type="text/plain" data-lethe-category="KEY">.
 * API: lethe.consent.get(), .set({key: bool}), .show(); event "lethe:consent-change" on document. */
(() => {
  'use strict';
  const me = document.currentScript;
  if (!me || window.lethe?.consent) return;
  const D = document, slug = me.getAttribute('data-workspace') || '';
  const gpc = navigator.globalPrivacyControl === true;
  const YEAR = 31536000;
  let cfg, T, state = null, queued = [], banner, shade, dialog, opener;

  const warn = (...a) => console.warn('lethe consent:', ...a);
  const own = (o) => Object.assign({}, o);
  const el = (tag, attrs, ...kids) => {
    const e = D.createElement(tag);
    for (const k in attrs || {}) {
      if (k === 'on') e.addEventListener('click', attrs.on);
      else if (attrs[k] != null && attrs[k] !== false) e.setAttribute(k, attrs[k] === true ? '' : attrs[k]);
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  };

  // Cookies: the decision and the visitor id on this host, or on the parent domain when the
  // page is under it.
  const under = (d) => d && (location.hostname === d || location.hostname.endsWith('.' + d));
  const cookieNames = () => D.cookie.split(';').map((c) => c.split('=')[0].trim()).filter(Boolean);
  const readCookie = (n) => {
    for (const c of D.cookie.split(';')) {
      const i = c.indexOf('=');
      if (c.slice(0, i).trim() === n) return decodeURIComponent(c.slice(i + 1));
    }
    return null;
  };
  const writeCookie = (n, v) => {
    D.cookie = `${n}=${encodeURIComponent(v)}; path=/; max-age=${YEAR}; SameSite=Lax` +
      (under(cfg.cookie_domain) ? `; domain=${cfg.cookie_domain}` : '') +
      (location.protocol === 'https:' ? '; Secure' : '');
  };
  const kill = (n) => {
    for (const d of ['', location.hostname, cfg.cookie_domain]) {
      if (d == null) continue;
      D.cookie = `${n}=; path=/; max-age=0; expires=Thu, 01 Jan 1970 00:00:00 GMT` + (d ? `; domain=${d}` : '');
    }
  };
  const matches = (p, n) => (p.endsWith('*') ? n.startsWith(p.slice(0, -1)) : n === p);

  const visitor = () => {
    let v = readCookie('lethe_visitor');
    if (!v || v.length < 22) {
      const b = crypto.getRandomValues(new Uint8Array(16));
      v = btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    }
    writeCookie('lethe_visitor', v);
    return v;
  };

  // Applies choices: runs the blocked scripts of accepted purposes, deletes what refused ones
  // left behind.
  const apply = (choices) => {
    for (const p of cfg.purposes) {
      if (choices[p.key]) {
        for (const s of D.querySelectorAll('script[type="text/plain"][data-lethe-category]')) {
          if (s.getAttribute('data-lethe-category') !== p.key) continue;
          const n = D.createElement('script');
          for (const a of s.attributes) if (a.name !== 'type') n.setAttribute(a.name, a.value);
          const type = s.getAttribute('data-lethe-type');
          if (type) n.type = type;
          n.async = false;
          n.text = s.text;
          s.replaceWith(n);
        }
        continue;
      }
      const names = cookieNames();
      for (const c of p.cookies) {
        if (!c.endsWith('*')) kill(c);
        for (const n of names) if (matches(c, n)) kill(n);
      }
      try {
        const keys = [];
        for (let i = 0; i < localStorage.length; i++) keys.push(localStorage.key(i));
        for (const k of p.local_storage) for (const n of keys) if (matches(k, n)) localStorage.removeItem(n);
      } catch (e) {
        warn(e);
      }
    }
  };

  const post = (choices, source) => {
    const body = JSON.stringify({
      visitor: visitor(), choices, policy_version: cfg.policy_version,
      consent_version: cfg.consent_version, banner_version: cfg.banner_version, gpc, source,
    });
    fetch(cfg.decision_url, {
      method: 'POST', credentials: 'omit', keepalive: true,
      headers: { 'content-type': 'application/json' }, body,
    }).then((r) => {
      if (r.status !== 201) throw new Error(`decision not recorded: HTTP ${r.status}`);
      return r.json();
    }).then((j) => {
      if (j && j.receipt) localStorage.setItem('lethe_receipt', JSON.stringify(j.receipt));
    }).catch(warn);
  };

  // Records a decision: every purpose gets a yes or no; GPC refuses the opt-out ones.
  const record = (given, source) => {
    const choices = {};
    for (const p of cfg.purposes) choices[p.key] = !(gpc && p.opt_out_of_sale) && given[p.key] === true;
    state = { choices, consent_version: cfg.consent_version, banner_version: cfg.banner_version, time: new Date().toISOString(), gpc };
    writeCookie('lethe_consent', JSON.stringify(state));
    close();
    apply(choices);
    D.dispatchEvent(new CustomEvent('lethe:consent-change', { detail: own(choices) }));
    post(choices, source);
  };
  const all = (yes) => {
    const c = {};
    for (const p of cfg.purposes) c[p.key] = yes;
    return c;
  };

  // The banner: a region at the bottom, not modal. The choices: a modal dialog.
  const close = () => {
    dialog?.remove();
    shade?.remove();
    banner?.remove();
    dialog = shade = banner = null;
    D.removeEventListener('keydown', onKey, true);
  };
  const buttons = (...b) => el('div', { class: 'lethe-btns' }, ...b);
  const btn = (text, on, act, cls) => el('button', { type: 'button', class: 'lethe-btn' + (cls || ''), 'data-lethe-action': act, on }, text);
  const policyLink = () => el('a', { href: cfg.policy_url, class: 'lethe-link' }, T.policy);

  const showBanner = () => {
    if (banner) return;
    banner = el('div', { class: 'lethe-banner lethe-off', role: 'region', 'aria-label': T.region, lang: T.lang },
      el('h2', { class: 'lethe-h' }, T.heading),
      el('p', null, T.intro, ' ', policyLink()),
      buttons(
        btn(T.accept_all, () => record(all(true), 'banner'), 'accept'),
        btn(T.reject_all, () => record(all(false), 'banner'), 'reject'),
        btn(T.choose, () => openPrefs(), 'choose', ' lethe-btn2'),
      ));
    D.body.prepend(banner);
    requestAnimationFrame(() => requestAnimationFrame(() => banner?.classList.remove('lethe-off')));
  };

  const openPrefs = () => {
    if (dialog) return;
    opener = D.activeElement;
    if (banner) banner.hidden = true;
    const current = state ? state.choices : {};
    const items = cfg.purposes.map((p, i) => {
      const forced = gpc && p.opt_out_of_sale, id = 'lethe-p' + i;
      return el('li', null,
        el('input', { type: 'checkbox', id, 'data-key': p.key, checked: !forced && current[p.key] === true, disabled: forced, 'aria-describedby': id + 'd' }),
        el('label', { for: id }, p.name),
        el('div', { id: id + 'd', class: 'lethe-note' },
          p.description ? el('p', null, p.description) : null,
          p.prompt ? el('p', null, p.prompt) : null,
          forced ? el('p', { class: 'lethe-gpc' }, T.gpc) : null));
    });
    const boxes = () => {
      const c = {};
      for (const b of dialog.querySelectorAll('input[data-key]')) c[b.getAttribute('data-key')] = b.checked;
      return c;
    };
    shade = el('div', { class: 'lethe-shade' });
    dialog = el('div', { class: 'lethe-dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'lethe-ph', lang: T.lang, tabindex: '-1' },
      el('h2', { id: 'lethe-ph', class: 'lethe-h' }, T.preferences),
      el('ul', null, ...items),
      buttons(
        btn(T.accept_all, () => record(all(true), 'banner'), 'accept'),
        btn(T.reject_all, () => record(all(false), 'banner'), 'reject'),
        btn(T.save, () => record(boxes(), 'banner'), 'save'),
        btn(T.close, back, 'back', ' lethe-btn2'),
      ),
      el('p', null, policyLink()));
    D.body.append(shade, dialog);
    D.addEventListener('keydown', onKey, true);
    (dialog.querySelector('input:not([disabled])') || dialog).focus();
  };

  // Back from the choices: to the banner while no decision is made, else to where it was opened.
  function back() {
    dialog?.remove();
    shade?.remove();
    dialog = shade = null;
    D.removeEventListener('keydown', onKey, true);
    if (banner) {
      banner.hidden = false;
      banner.querySelector('.lethe-btn2').focus();
    } else if (!state) {
      showBanner();
      banner.querySelector('.lethe-btn2').focus();
    } else opener?.focus?.();
  }

  // Inside the dialog only: Tab stays in it, Escape goes back.
  function onKey(e) {
    if (!dialog) return;
    if (e.key === 'Escape') {
      e.preventDefault();
      back();
    } else if (e.key === 'Tab') {
      const f = [...dialog.querySelectorAll('button, a[href], input:not([disabled])')];
      const first = f[0], last = f[f.length - 1];
      if (!dialog.contains(D.activeElement)) {
        e.preventDefault();
        first.focus();
      } else if (e.shiftKey && (D.activeElement === first || D.activeElement === dialog)) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && D.activeElement === last) {
        e.preventDefault();
        first.focus();
      }
    }
  }

  const CSS = `.lethe-banner,.lethe-dialog{box-sizing:border-box;background:#fff;color:#1a1a1a;font:16px/1.5 system-ui,sans-serif;text-align:left;z-index:2147483647}
.lethe-banner{position:fixed;left:0;right:0;bottom:0;padding:1rem 1.25rem;border-top:2px solid #1a1a1a;box-shadow:0 -2px 12px #0004;transition:transform .3s ease-out}
.lethe-off{transform:translateY(100%)}
.lethe-shade{position:fixed;inset:0;background:#0008;z-index:2147483646}
.lethe-dialog{position:fixed;top:50%;left:50%;transform:translate(-50%,-50%);width:min(40rem,calc(100% - 2rem));max-height:calc(100% - 2rem);overflow:auto;padding:1.25rem;border-radius:6px}
.lethe-h{font-size:1.2rem;margin:0 0 .5rem;color:inherit}
.lethe-banner p,.lethe-dialog p{margin:.25rem 0}
.lethe-btns{display:flex;flex-wrap:wrap;gap:.5rem;margin:.75rem 0 .25rem}
.lethe-btn{flex:1 1 9rem;min-height:44px;padding:.5rem 1rem;font:inherit;font-weight:600;border:2px solid #1a1a1a;border-radius:4px;background:#1a1a1a;color:#fff;cursor:pointer}
.lethe-btn2{background:#fff;color:#1a1a1a}
.lethe-link{color:#0645ad;text-decoration:underline}
.lethe-dialog ul{list-style:none;margin:0;padding:0}
.lethe-dialog li{border-top:1px solid #ccc;padding:.75rem 0}
.lethe-dialog input{width:1.25rem;height:1.25rem;margin:0 .5rem 0 0;vertical-align:middle}
.lethe-dialog label{font-weight:600}
.lethe-note{color:#444;font-size:.95em}
.lethe-gpc{color:#8a1c1c}
.lethe-banner :focus-visible,.lethe-dialog :focus-visible{outline:3px solid #b35900;outline-offset:2px}
@media (prefers-reduced-motion:reduce){.lethe-banner{transition:none}}`;

  const start = () => {
    const lang = (D.documentElement.lang || '').slice(0, 2).toLowerCase();
    T = Object.assign({ lang: cfg.texts[lang] ? lang : 'en' }, cfg.texts[lang] || cfg.texts.en);
    D.head.append(el('style', { id: 'lethe-style' }, CSS));
    let stored = null;
    try {
      stored = JSON.parse(readCookie('lethe_consent'));
    } catch (e) { /* none or unreadable: ask */ }
    const renew = cfg.consent_version != null && !(stored?.consent_version >= cfg.consent_version);
    const complete = stored?.choices && cfg.purposes.every((p) => typeof stored.choices[p.key] === 'boolean');
    if (stored && complete && !renew) {
      state = stored;
      if (gpc && cfg.purposes.some((p) => p.opt_out_of_sale && stored.choices[p.key])) record(stored.choices, 'gpc');
      else apply(stored.choices);
    } else if (cfg.purposes.length && cfg.purposes.every((p) => gpc && p.opt_out_of_sale)) {
      record({}, 'gpc');
    } else if (cfg.purposes.length) {
      showBanner();
    }
    for (const q of queued) q();
    queued = [];
  };

  const ready = (f) => (cfg ? f() : queued.push(f));
  window.lethe = Object.assign(window.lethe || {}, {
    consent: {
      get: () => (state ? own(state.choices) : null),
      set: (c) => ready(() => record(Object.assign({}, state ? state.choices : {}, c), 'banner')),
      show: () => ready(openPrefs),
    },
  });

  fetch(new URL(`/consent/${encodeURIComponent(slug)}/config.json`, me.src), { credentials: 'omit' })
    .then((r) => {
      if (!r.ok) throw new Error(`no configuration for "${slug}": HTTP ${r.status}`);
      return r.json();
    })
    .then((c) => {
      cfg = c;
      if (D.body) start();
      else D.addEventListener('DOMContentLoaded', start);
    })
    .catch(warn);
})();

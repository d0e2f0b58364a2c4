// Tocsin's web console (README "Web console"). Plain JavaScript, no build step, no library:
// it reads and acts only through the REST API (docs/behaviour.md "REST API").
// Every string from the API is put on the page as text (textContent), never as HTML: alert
// names, summaries and reasons come from whoever can post to a hook.
'use strict';

(function () {
  const k_refresh_ms = 10000;
  const k_token_key = 'tocsin.token';  // sessionStorage: this tab only, never a cookie
  const k_by_key = 'tocsin.by';
  const k_severity_rank = { critical: 0, high: 1, warning: 2, info: 3 };

  let g_timer = null;
  let g_generation = 0;  // the latest refresh; an older one that ends later is dropped

  // ---- DOM helpers: text only ----

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function $(id) { return document.getElementById(id); }

  function badge(text, kind) { return el('span', { class: 'badge ' + (kind || '') }, text); }

  // ---- time ----

  function parseTime(iso) { return iso ? Date.parse(iso) : NaN; }

  function span(ms) {
    const s = Math.round(Math.abs(ms) / 1000);
    if (s < 60) return s + 's';
    const m = Math.floor(s / 60);
    if (m < 60) return m + 'm';
    const h = Math.floor(m / 60);
    if (h < 48) return h + 'h' + (m % 60 ? ' ' + (m % 60) + 'm' : '');
    return Math.floor(h / 24) + 'd';
  }

  function relative(iso) {
    const t = parseTime(iso);
    if (isNaN(t)) return '';
    const d = t - Date.now();
    return d > 1000 ? 'in ' + span(d) : span(d) + ' ago';
  }

  // A time as people read it at 3 a.m.: UTC, and how long ago.
  function when(iso) {
    if (!iso) return el('span', { class: 'muted' }, '—');
    const text = iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
    return el('time', { datetime: iso }, text + ' (' + relative(iso) + ')');
  }

  // ---- the API ----

  function token() { return sessionStorage.getItem(k_token_key) || ''; }

  async function api(path, options) {
    const headers = { Accept: 'application/json' };
    if (token()) headers.Authorization = 'Bearer ' + token();
    const init = { method: 'GET', headers, credentials: 'omit', cache: 'no-store' };
    if (options && options.body !== undefined) {
      init.method = 'POST';
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'unreachable', 'cannot reach the Tocsin server (' + e.message + ')');
    }
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) {
      throw new ApiError(res.status, body && body.error, body && body.detail);
    }
    return body;
  }

  class ApiError extends Error {
    constructor(status, code, detail) {
      super(detail || code || ('HTTP ' + status));
      this.status = status;
      this.code = code || '';
      this.detail = detail || '';
    }
    // What a person should read, and do.
    explain() {
      if (this.status === 401) {
        return '401 Unauthorized: ' + this.detail +
            '. This server wants an API token: type it above (it is kept for this tab only).';
      }
      if (this.status === 403) {
        return '403 Forbidden: ' + this.detail +
            '. The token can read but not act: type a token with write scope above.';
      }
      if (this.status === 0) return this.detail;
      return this.status + ' ' + this.code + ': ' + this.detail;
    }
  }

  // What went wrong, until it is fixed: a refresh clears only a failed load, not what a
  // person's own action met (a 403 stays until the next action or token).
  let g_problem_from = null;

  function showProblem(error, from) {
    from = from || 'load';
    const p = $('problem');
    if (!error && from === 'load' && g_problem_from === 'action') return;
    g_problem_from = error ? from : null;
    if (!error) {
      p.hidden = true;
      p.textContent = '';
      return;
    }
    p.textContent = error instanceof ApiError ? error.explain() : String(error);
    p.hidden = false;
    // A refused token: open the token field, so the fix is one step away.
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      $('token-box').open = true;
    }
  }

  // ---- token ----

  function renderTokenState() {
    $('token-state').textContent = token()
        ? 'API token: set for this tab (sent as "Authorization: Bearer")'
        : 'API token: none (fine when the server has no api.tokens)';
  }

  function setupToken() {
    $('token-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const value = $('token-input').value.trim();
      if (value) sessionStorage.setItem(k_token_key, value);
      $('token-input').value = '';
      $('token-box').open = false;
      renderTokenState();
      showProblem(null, 'action');
      refresh();
    });
    $('token-forget').addEventListener('click', () => {
      sessionStorage.removeItem(k_token_key);
      renderTokenState();
      refresh();
    });
    renderTokenState();
  }

  // ---- episodes ----

  function priorityRank(p) { return p && /^P\d$/.test(p) ? Number(p.slice(1)) : 9; }

  function byUrgency(a, b) {
    const ea = a.episode, eb = b.episode;
    return priorityRank(ea.priority) - priorityRank(eb.priority) ||
        (k_severity_rank[ea.severity] ?? 9) - (k_severity_rank[eb.severity] ?? 9) ||
        parseTime(eb.last_activity_at) - parseTime(ea.last_activity_at) ||
        a.alert_id - b.alert_id;
  }

  function isHeld(ep) { return !!ep.held_until && parseTime(ep.held_until) > Date.now(); }
  // Flagged by the max_open_age sweep, and quiet since (docs/behaviour.md "REST API").
  function isStale(ep) {
    return !!ep.flagged_stale_at && parseTime(ep.flagged_stale_at) >= parseTime(ep.last_activity_at);
  }

  function factorLine(noise) {
    if (!noise || !noise.factors) return null;
    const f = noise.factors;
    const parts = [];
    for (const name of ['flap', 'rate', 'transient', 'ignored']) {
      if (f[name]) parts.push(name + ' ' + Number(f[name].points).toFixed(1));
    }
    return el('p', { class: 'factors muted' }, 'noise factors: ' + parts.join(' · '));
  }

  function episodeCard(alert, noiseById) {
    const ep = alert.episode;
    const link = el('a', { href: '#/alert/' + alert.alert_id, class: 'name',
                           'data-focus': 'alert-' + alert.alert_id }, alert.name || alert.fingerprint);
    const marks = [badge(ep.priority, 'prio-' + ep.priority), badge(ep.severity, 'sev-' + ep.severity),
                   badge(ep.status, 'status-' + ep.status)];
    if (isStale(ep)) marks.push(badge('stale', 'stale'));
    if (ep.demoted_to) marks.push(badge('demoted to ' + ep.demoted_to, 'demoted'));
    if (isHeld(ep)) marks.push(badge('held', 'held'));
    const facts = el('dl', { class: 'facts pairs' },
        el('dt', {}, 'noise'), el('dd', { class: 'noise' }, Number(alert.noise_score ?? 0).toFixed(1)),
        el('dt', {}, 'level'), el('dd', {}, String(ep.level)),
        el('dt', {}, 'age'), el('dd', {}, span(Date.now() - parseTime(ep.opened_at))),
        el('dt', {}, 'activity'), el('dd', {}, relative(ep.last_activity_at)),
        el('dt', {}, 'ack by'),
        el('dd', { class: 'acked-by' }, ep.acknowledged_by || '—'));
    const extra = [];
    if (isHeld(ep)) extra.push(el('p', { class: 'muted' }, 'held until ', when(ep.held_until)));
    if (isStale(ep)) extra.push(el('p', { class: 'muted' }, 'flagged stale ', when(ep.flagged_stale_at)));
    const noise = noiseById.get(alert.alert_id);
    return el('article', { class: 'card', 'data-alert': alert.alert_id },
        el('h3', {}, link), el('p', { class: 'marks' }, marks),
        alert.summary && alert.summary !== alert.name ? el('p', { class: 'summary' }, alert.summary) : null,
        facts, factorLine(noise), extra);
  }

  function section(id, title, ...content) {
    return el('section', { id, 'aria-labelledby': id + '-h' }, el('h2', { id: id + '-h' }, title), content);
  }

  function table(headers, rows) {
    return el('div', { class: 'scroll' }, el('table', {},
        el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, rows)));
  }

  // ---- the home view ----

  async function loadAll(path, key) {
    const out = [];
    let offset = 0;
    for (let page = 0; page < 10; ++page) {
      const body = await api(path + (path.includes('?') ? '&' : '?') + 'limit=500&offset=' + offset);
      out.push(...body[key]);
      if (body.next_offset === null || body.next_offset === undefined) break;
      offset = body.next_offset;
    }
    return out;
  }

  // Each render reads everything first and returns what changes the page, so that only the
  // latest refresh touches it (a refresh still loading when the view changes is dropped).
  async function renderHome(data) {
    const [open, acked, noise, heartbeats, rules, cluster, silences] = await Promise.all([
      loadAll('/api/v1/alerts?status=open', 'alerts'),
      loadAll('/api/v1/alerts?status=acknowledged', 'alerts'),
      api('/api/v1/noise?limit=500'),
      api('/api/v1/heartbeats'),
      api('/api/v1/rules'),
      api('/api/v1/cluster').catch(() => null),
      api('/api/v1/silences?limit=50').catch(() => ({ silences: [] })),
    ]);
    const noiseById = new Map(noise.alerts.map((a) => [a.alert_id, a.noise]));
    const active = open.concat(acked).filter((a) => a.episode);
    active.sort(byUrgency);
    const paging = active.filter((a) => !a.episode.demoted_to && !isHeld(a.episode));
    const apart = active.filter((a) => a.episode.demoted_to || isHeld(a.episode));

    const nodes = [];
    nodes.push(section('open', 'Open episodes (' + paging.length + ')',
        paging.length ? el('div', { class: 'cards', id: 'open-list' }, paging.map((a) => episodeCard(a, noiseById)))
                      : el('p', { class: 'muted' }, 'Nothing open. All quiet.')));
    nodes.push(section('apart', 'Demoted and held (' + apart.length + ')',
        el('p', { class: 'muted' }, 'Routed away from the escalation by their noise score, or waiting out a hold_for.'),
        apart.length ? el('div', { class: 'cards', id: 'apart-list' }, apart.map((a) => episodeCard(a, noiseById)))
                     : el('p', { class: 'muted' }, 'None.')));

    nodes.push(section('heartbeats', 'Heartbeats',
        heartbeats.heartbeats.length
            ? table(['name', 'state', 'every', 'last ping', 'pings'], heartbeats.heartbeats.map((h) =>
                el('tr', { 'data-heartbeat': h.name }, el('td', {}, h.name),
                   el('td', {}, badge(h.state, 'hb-' + h.state)), el('td', {}, h.every),
                   el('td', {}, when(h.last_ping_at)), el('td', {}, String(h.pings)))))
            : el('p', { class: 'muted' }, 'No heartbeats declared.')));

    nodes.push(section('noisiest', 'Noisiest alerts',
        noise.alerts.length
            ? el('ol', { class: 'noisy' }, noise.alerts.slice(0, 10).map((a) =>
                el('li', {}, el('a', { href: '#/alert/' + a.alert_id }, a.name || a.fingerprint),
                   ' ', badge(Number(a.noise.score).toFixed(1), 'noise'),
                   el('p', { class: 'muted' }, a.noise.explanation),
                   el('ul', { class: 'advice' }, (a.advice || []).map((line) => el('li', {}, line))))))
            : el('p', { class: 'muted' }, 'No alert scores above 0.')));

    nodes.push(section('silences', 'Silences', silencesTable(silences.silences)));

    const warnings = (rules.warnings || []).concat((cluster && cluster.warnings) || []);
    nodes.push(section('rules', 'Rules in force',
        el('dl', { class: 'facts' },
           el('dt', {}, 'file'), el('dd', {}, rules.path),
           el('dt', {}, 'hash'), el('dd', { class: 'hash', title: rules.hash }, rules.hash.slice(0, 16)),
           el('dt', {}, 'loaded'), el('dd', {}, when(rules.loaded_at)),
           el('dt', {}, 'contents'),
           el('dd', {}, rules.rules + ' rules, ' + rules.channels + ' channels, ' + rules.escalations +
                         ' escalations, ' + rules.heartbeats + ' heartbeats')),
        warnings.length ? el('ul', { class: 'warnings' }, warnings.map((w) => el('li', {}, typeof w === 'string' ? w : JSON.stringify(w))))
                        : el('p', { class: 'muted' }, 'No warnings.')));
    return () => data.replaceChildren(...nodes.filter(Boolean));
  }

  function silencesTable(list) {
    if (!list.length) return el('p', { class: 'muted' }, 'No silences.');
    return table(['id', 'status', 'matchers', 'until', 'by', 'comment', ''], list.map((s) =>
        el('tr', { 'data-silence': s.id }, el('td', {}, String(s.id)), el('td', {}, badge(s.status, 'silence-' + s.status)),
           el('td', {}, el('code', {}, JSON.stringify(s.matchers))), el('td', {}, when(s.ends_at)),
           el('td', {}, s.by), el('td', {}, s.comment),
           el('td', {}, s.status === 'expired' ? '' :
               el('button', { type: 'button', 'data-focus': 'expire-' + s.id,
                              onclick: () => expireSilence(s.id) }, 'Expire')))));
  }

  async function expireSilence(id) {
    try {
      await api('/api/v1/silences/' + id + '/expire', { body: byName() ? { by: byName() } : {} });
      say('Silence ' + id + ' expired.');
      showProblem(null, 'action');
    } catch (e) {
      showProblem(e, 'action');
    }
    refresh();
  }

  function byName() { return sessionStorage.getItem(k_by_key) || ''; }

  function nameField(id) {
    const input = el('input', { id, type: 'text', autocomplete: 'username', required: true,
                                value: byName(), placeholder: 'who you are' });
    input.addEventListener('change', () => sessionStorage.setItem(k_by_key, input.value.trim()));
    return [el('label', { for: id }, 'Your name'), input];
  }

  function say(text) { $('said').textContent = text; }

  function silenceForm() {
    const keys = ['name', 'fingerprint', 'source', 'severity', 'metric', 'namespace', 'account', 'region'];
    const form = el('form', { class: 'act', id: 'silence-form' },
        nameField('silence-by'),
        el('label', { for: 'silence-key' }, 'Match'),
        el('select', { id: 'silence-key' }, keys.map((k) => el('option', { value: k }, k))),
        el('label', { for: 'silence-value' }, 'Value (glob * or /regex/)'),
        el('input', { id: 'silence-value', type: 'text', required: true }),
        el('label', { for: 'silence-duration' }, 'For'),
        el('input', { id: 'silence-duration', type: 'text', value: '2h', required: true }),
        el('label', { for: 'silence-comment' }, 'Why'),
        el('input', { id: 'silence-comment', type: 'text', required: true }),
        el('button', { type: 'submit' }, 'Add silence'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const by = $('silence-by').value.trim();
      sessionStorage.setItem(k_by_key, by);
      const body = { matchers: { [$('silence-key').value]: $('silence-value').value },
                     duration: $('silence-duration').value.trim(), by,
                     comment: $('silence-comment').value };
      try {
        const s = await api('/api/v1/silences', { body });
        say('Silence ' + s.id + ' added (' + s.status + ').');
        showProblem(null, 'action');
      } catch (e) {
        showProblem(e, 'action');
      }
      refresh();
    });
    return el('section', { id: 'add-silence', 'aria-labelledby': 'add-silence-h' },
              el('h2', { id: 'add-silence-h' }, 'Add a silence'), form);
  }

  // ---- the alert view ----

  function actionForm(id) {
    const form = el('form', { class: 'act', id: 'act-form' },
        nameField('act-by'),
        el('label', { for: 'act-note' }, 'Note'),
        el('input', { id: 'act-note', type: 'text', placeholder: 'optional' }),
        el('div', { class: 'buttons' },
           ['ack', 'unack', 'resolve'].map((action) => el('button', {
             type: 'button', id: 'do-' + action, 'data-action': action,
             onclick: () => act(id, action),
           }, { ack: 'Acknowledge', unack: 'Unacknowledge', resolve: 'Resolve' }[action]))));
    form.addEventListener('submit', (event) => event.preventDefault());
    return form;
  }

  async function act(id, action) {
    const by = $('act-by').value.trim();
    if (!by) {
      showProblem('Type your name first: every action records who took it.', 'action');
      $('act-by').focus();
      return;
    }
    sessionStorage.setItem(k_by_key, by);
    const body = { by };
    const note = $('act-note').value.trim();
    if (note) body.note = note;
    try {
      const r = await api('/api/v1/alerts/' + id + '/' + action, { body });
      say('Episode ' + r.episode + ' of alert ' + r.alert_id + ' is now ' + r.status + '.');
      showProblem(null, 'action');
      $('act-note').value = '';
    } catch (e) {
      showProblem(e, 'action');
      say('');
    }
    refresh();
  }

  function noiseTable(noise) {
    if (!noise || !noise.factors) return null;
    const f = noise.factors;
    const value = {
      flap: (x) => x.percent + '%' + (x.flapping ? ' (flapping)' : ''),
      rate: (x) => x.per_day + '/day',
      transient: (x) => x.count + '/' + x.ended,
      ignored: (x) => x.count + '/' + x.ended,
    };
    return el('div', {},
        table(['factor', 'value', 'weight', 'points'], Object.keys(value).filter((k) => f[k]).map((k) =>
            el('tr', {}, el('td', {}, k), el('td', {}, value[k](f[k])), el('td', {}, String(f[k].weight)),
               el('td', {}, Number(f[k].points).toFixed(1))))),
        el('p', { class: 'muted' }, noise.explanation));
  }

  async function renderAlert(data, id) {
    const [alert, events, notifications] = await Promise.all([
      api('/api/v1/alerts/' + id),
      api('/api/v1/alerts/' + id + '/events?limit=200'),
      api('/api/v1/notifications?alert_id=' + id + '&limit=100'),
    ]);
    const logs = await Promise.all(notifications.notifications.map((n) =>
        api('/api/v1/notifications/' + n.id).catch(() => n)));
    const ep = alert.episode;

    const nodes = [];
    const marks = [];
    if (ep) {
      marks.push(badge(ep.priority, 'prio-' + ep.priority), badge(ep.severity, 'sev-' + ep.severity),
                 el('span', { id: 'episode-status', class: 'badge status-' + ep.status }, ep.status));
      if (isStale(ep)) marks.push(badge('stale', 'stale'));
      if (ep.demoted_to) marks.push(badge('demoted to ' + ep.demoted_to, 'demoted'));
      if (isHeld(ep)) marks.push(badge('held', 'held'));
    }
    nodes.push(el('h1', { id: 'alert-name' }, alert.name || alert.fingerprint), el('p', { class: 'marks' }, marks),
               el('p', { class: 'muted fp' }, alert.fingerprint),
               alert.summary ? el('p', { class: 'summary' }, alert.summary) : null,
               alert.description ? el('p', { class: 'description' }, alert.description) : null);
    if (ep) {
      nodes.push(section('episode', 'Episode ' + ep.number,
          el('dl', { class: 'facts' },
             el('dt', {}, 'status'), el('dd', {}, ep.status + (ep.ended_by ? ' (ended by ' + ep.ended_by + ')' : '')),
             el('dt', {}, 'level'), el('dd', {}, String(ep.level) + ' of ' + (ep.escalation || []).join(', ')),
             el('dt', {}, 'opened'), el('dd', {}, when(ep.opened_at)),
             el('dt', {}, 'last activity'), el('dd', {}, when(ep.last_activity_at)),
             el('dt', {}, 'events'), el('dd', {}, String(ep.event_count)),
             el('dt', {}, 'acknowledged by'),
             el('dd', { id: 'acked-by' }, ep.acknowledged_by ? ep.acknowledged_by + ' ' : '—',
                ep.acknowledged_at ? when(ep.acknowledged_at) : null),
             isStale(ep) ? [el('dt', {}, 'flagged stale'), el('dd', {}, when(ep.flagged_stale_at))] : null,
             ep.demoted_to ? [el('dt', {}, 'demoted to'), el('dd', {}, ep.demoted_to)] : null,
             ep.held_until ? [el('dt', {}, 'held until'), el('dd', {}, when(ep.held_until))] : null,
             el('dt', {}, 'alias'), el('dd', {}, ep.alias))));
    }

    const steps = (alert.timers || []).slice().sort((a, b) => parseTime(a.due_at) - parseTime(b.due_at));
    const sent = notifications.notifications.filter((n) => ep && n.episode === ep.number && n.action === 'trigger');
    nodes.push(section('escalation', 'Escalation',
        el('h3', {}, 'Done'),
        sent.length ? el('ul', { id: 'steps-done' }, sent.map((n) =>
            el('li', {}, 'level ' + n.level + ' → ' + n.channel + ': ' + n.status + ' ', when(n.sent_at || n.created_at),
               el('span', { class: 'muted' }, ' ' + n.why))))
                    : el('p', { class: 'muted', id: 'steps-done' }, 'No page sent in this episode.'),
        el('h3', {}, 'Pending'),
        steps.length ? el('ul', { id: 'steps-pending' }, steps.map((t) =>
            el('li', {}, (t.kind === 'escalation' ? 'escalation step ' + t.step : t.kind) + ' due ', when(t.due_at))))
                     : el('p', { class: 'muted', id: 'steps-pending' }, 'Nothing pending.')));

    nodes.push(section('noise', 'Noise ' + (alert.noise ? Number(alert.noise.score).toFixed(1) : ''), noiseTable(alert.noise)));

    nodes.push(section('timeline', 'Timeline: events and decisions',
        table(['time', 'episode', 'kind', 'outcome', 'reason', 'rule'], events.events.map((e) =>
            el('tr', { class: 'kind-' + e.type },
               el('td', {}, when(e.at)), el('td', {}, e.episode === null ? '' : String(e.episode)),
               el('td', {}, e.type), el('td', {}, badge(e.outcome, 'outcome')),
               el('td', { class: 'reason' }, e.reason), el('td', {}, e.rule || ''))))));

    nodes.push(section('notifications', 'Notifications (' + logs.length + ')',
        logs.length ? el('ul', { class: 'notes' }, logs.map((n) =>
            el('li', {},
               el('p', {}, badge(n.status, 'note-' + n.status), ' ', n.action + ' to ' + n.channel +
                  ' (episode ' + n.episode + ', level ' + n.level + ', ' + n.attempts + ' attempt' + (n.attempts === 1 ? '' : 's') + ') '),
               el('p', { class: 'muted' }, 'why: ' + n.why),
               (n.attempts_log || []).length
                   ? el('ol', { class: 'attempts' }, n.attempts_log.map((t) =>
                       el('li', {}, when(t.at), ' ' + t.outcome + (t.http_status ? ' HTTP ' + t.http_status : '') +
                          (t.error ? ': ' + t.error : '') + ' (' + t.duration_ms + ' ms)')))
                   : el('p', { class: 'muted' }, 'no attempt yet'))))
                    : el('p', { class: 'muted' }, 'None.')));

    if ((alert.silences || []).length) nodes.push(section('alert-silences', 'Silences covering it', silencesTable(alert.silences)));

    nodes.push(section('episodes', 'Episodes (' + alert.episodes_total + ')',
        table(['#', 'status', 'opened', 'closed', 'ended by', 'noise', 'acknowledged by'], (alert.episodes || []).map((e) =>
            el('tr', {}, el('td', {}, String(e.number)), el('td', {}, e.status), el('td', {}, when(e.opened_at)),
               el('td', {}, when(e.closed_at)), el('td', {}, e.ended_by || ''),
               el('td', {}, e.noise === null ? '' : Number(e.noise).toFixed(1)), el('td', {}, e.acknowledged_by || ''))))));
    return () => {
      document.title = (alert.name || alert.fingerprint) + ' · Tocsin';
      $('do-ack').disabled = !ep || ep.status !== 'open';
      $('do-unack').disabled = !ep || ep.status !== 'acknowledged';
      $('do-resolve').disabled = !ep || (ep.status !== 'open' && ep.status !== 'acknowledged');
      data.replaceChildren(...nodes.filter(Boolean));
    };
  }

  // ---- routing and refresh ----

  function route() {
    const m = /^#\/alert\/(\d+)$/.exec(location.hash);
    return m ? { view: 'alert', id: m[1] } : { view: 'home' };
  }

  // Builds the view's frame: the forms stay put across refreshes (what is typed is kept), the
  // data region is rebuilt.
  function mount() {
    const r = route();
    const view = $('view');
    const data = el('div', { id: 'data' });
    const said = el('p', { id: 'said', role: 'status', 'aria-live': 'polite' });
    if (r.view === 'alert') {
      document.title = 'Alert ' + r.id + ' · Tocsin';
      view.replaceChildren(el('p', {}, el('a', { href: '#/' }, '← all episodes')),
                           el('section', { id: 'actions', 'aria-label': 'Act on this episode' }, actionForm(r.id), said),
                           data);
    } else {
      document.title = 'Tocsin';
      view.replaceChildren(said, data, silenceForm());
    }
  }

  async function refresh() {
    const generation = ++g_generation;
    const r = route();
    const data = $('data');
    let focused = null;
    try {
      const apply = r.view === 'alert' ? await renderAlert(data, r.id) : await renderHome(data);
      if (generation !== g_generation) return;
      // A refresh rebuilds the data region: keep the focus on the same link or button.
      if (document.activeElement && data.contains(document.activeElement)) {
        focused = document.activeElement.getAttribute('data-focus');
      }
      apply();
      showProblem(null);
      $('updated').textContent = 'updated ' + new Date().toISOString().slice(11, 19) + 'Z';
      document.body.setAttribute('data-loaded', String(Date.now()));
    } catch (e) {
      if (generation !== g_generation) return;
      showProblem(e);
      document.body.setAttribute('data-failed', String(Date.now()));
    }
    if (focused) {
      const again = data.querySelector('[data-focus="' + CSS.escape(focused) + '"]');
      if (again) again.focus();
    }
  }

  function schedule() {
    clearInterval(g_timer);
    g_timer = null;
    // Paused while the tab is hidden; refreshed at once when it shows again.
    if (document.hidden) return;
    g_timer = setInterval(refresh, k_refresh_ms);
  }

  function start() {
    setupToken();
    $('refresh').addEventListener('click', refresh);
    window.addEventListener('hashchange', () => {
      mount();
      $('view').focus();
      refresh();
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) refresh();
      schedule();
    });
    mount();
    refresh();
    schedule();
  }

  document.addEventListener('DOMContentLoaded', start);
})();

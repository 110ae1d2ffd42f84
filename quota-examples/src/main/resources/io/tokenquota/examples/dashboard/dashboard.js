// token-quota dashboard: reads GET /api/v1/quota-admin/dashboard with the admin token and draws it.
// No framework, no build step. Every number is written into an element with a stable id
// (user-used, all-remaining, ...) and its raw value in data-value, so tests can read it.
'use strict';

(function () {
  const DATA_URL = '/api/v1/quota-admin/dashboard';
  const SVG = 'http://www.w3.org/2000/svg';
  const fmt = new Intl.NumberFormat('en-US');
  let timer = null;
  let loads = 0;

  const $ = (id) => document.getElementById(id);

  function setupPanels() {
    const template = $('panel-template');
    document.querySelectorAll('.panel-body').forEach((body) => {
      const prefix = body.dataset.prefix;
      body.appendChild(template.content.cloneNode(true));
      body.querySelectorAll('[data-field]').forEach((el) => { el.id = prefix + '-' + el.dataset.field; });
      body.querySelectorAll('[data-role]').forEach((el) => { el.id = prefix + '-' + el.dataset.role; });
    });
  }

  function setNumber(id, value, text) {
    const el = $(id);
    el.dataset.value = value === null || value === undefined ? '' : String(value);
    el.textContent = text !== undefined ? text : fmt.format(value) + (el.dataset.unit || '');
  }

  function svg(name, attrs, text) {
    const el = document.createElementNS(SVG, name);
    Object.entries(attrs).forEach(([k, v]) => el.setAttribute(k, String(v)));
    if (text !== undefined) {
      el.textContent = text;
    }
    return el;
  }

  function drawGauge(prefix, q) {
    const g = $(prefix + '-gauge');
    g.replaceChildren();
    const total = Math.max(q.limit, q.used + q.reserved, 1);
    const w = (v) => Math.max(0, v) / total * 400;
    let x = 0;
    for (const [cls, v] of [['used', q.used], ['reserved', q.reserved], ['remaining', Math.max(0, q.remaining)]]) {
      const width = w(v);
      g.appendChild(svg('rect', { x, y: 0, width, height: 28, class: 'bar-' + cls, 'data-part': cls, 'data-value': v }));
      x += width;
    }
    g.setAttribute('aria-label', fmt.format(q.used) + ' used, ' + fmt.format(q.reserved) + ' reserved, '
      + fmt.format(q.remaining) + ' remaining of ' + fmt.format(q.limit));
  }

  function drawChart(prefix, days) {
    const c = $(prefix + '-chart');
    c.replaceChildren();
    const width = 720, height = 180, left = 48, bottom = 22, top = 8;
    const max = Math.max(1, ...days.map((d) => d.used));
    const slot = (width - left) / Math.max(days.length, 1);
    c.appendChild(svg('line', { x1: left, y1: height - bottom, x2: width, y2: height - bottom, class: 'axis' }));
    c.appendChild(svg('text', { x: left - 6, y: top + 10, class: 'tick', 'text-anchor': 'end' }, fmt.format(max)));
    c.appendChild(svg('text', { x: left - 6, y: height - bottom, class: 'tick', 'text-anchor': 'end' }, '0'));
    days.forEach((d, i) => {
      const h = d.used / max * (height - bottom - top);
      const x = left + i * slot + slot * 0.15;
      const label = d.day + ': ' + fmt.format(d.used) + ' tokens, ' + d.requests + ' requests, '
        + d.rejected + ' blocked';
      const bar = svg('rect', {
        x, y: height - bottom - h, width: slot * 0.7, height: h, class: 'day',
        'data-day': d.day, 'data-used': d.used, 'data-requests': d.requests, 'data-rejected': d.rejected,
      });
      bar.appendChild(svg('title', {}, label));
      c.appendChild(bar);
      if (d.rejected > 0) {
        // a mark above the bar: the day had blocked (429) requests
        const mark = svg('circle', {
          cx: x + slot * 0.35, cy: Math.max(top, height - bottom - h - 6), r: 3.5, class: 'blocked-mark',
          'data-day': d.day, 'data-rejected': d.rejected,
        });
        mark.appendChild(svg('title', {}, label));
        c.appendChild(mark);
      }
      const dayOfMonth = Number(d.day.slice(8));
      if (dayOfMonth === 1 || dayOfMonth % 5 === 0 || i === days.length - 1) {
        c.appendChild(svg('text', { x: x + slot * 0.35, y: height - 6, class: 'tick', 'text-anchor': 'middle' },
          String(dayOfMonth)));
      }
    });
    const used = days.reduce((s, d) => s + d.used, 0);
    const requests = days.reduce((s, d) => s + d.requests, 0);
    setNumber(prefix + '-daily-total', used);
    setNumber(prefix + '-daily-requests', requests);
  }

  function cell(text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) {
      td.className = cls;
    }
    return td;
  }

  function fillTopConsumers(prefix, rows) {
    const body = $(prefix + '-top-consumers').tBodies[0];
    body.replaceChildren();
    rows.forEach((r, i) => {
      const tr = document.createElement('tr');
      tr.dataset.userId = r.user_id;
      tr.dataset.used = r.used;
      tr.dataset.limit = r.limit;
      tr.append(cell(String(i + 1)), cell(r.user_id, 'user-link'), cell(fmt.format(r.used), 'num'),
        cell(fmt.format(r.limit), 'num'));
      tr.addEventListener('click', () => { $('user-id').value = r.user_id; load(); });
      body.appendChild(tr);
    });
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      tr.append(cell('no usage this month yet'));
      tr.firstChild.colSpan = 4;
      body.appendChild(tr);
    }
  }

  function fillModels(prefix, rows) {
    const body = $(prefix + '-models').tBodies[0];
    body.replaceChildren();
    rows.forEach((r) => {
      const tr = document.createElement('tr');
      tr.dataset.model = r.model === null ? '' : r.model;
      tr.dataset.charged = r.charged;
      tr.append(cell(r.model === null ? '(no model reported)' : r.model), cell(fmt.format(r.calls), 'num'),
        cell(fmt.format(r.input_tokens), 'num'), cell(fmt.format(r.cached_input_tokens), 'num'),
        cell(fmt.format(r.output_tokens), 'num'), cell(fmt.format(r.reasoning_tokens), 'num'),
        cell(fmt.format(r.charged), 'num'));
      body.appendChild(tr);
    });
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      tr.append(cell('no charges this month'));
      tr.firstChild.colSpan = 7;
      body.appendChild(tr);
    }
  }

  function fillPurchases(prefix, rows) {
    const body = $(prefix + '-purchases').tBodies[0];
    body.replaceChildren();
    rows.forEach((r) => {
      const tr = document.createElement('tr');
      tr.dataset.type = r.type;
      tr.dataset.currency = r.currency;
      tr.dataset.count = r.count;
      tr.dataset.tokens = r.tokens;
      tr.dataset.amount = r.amount;
      tr.append(cell(r.type), cell(r.currency), cell(fmt.format(r.count), 'num'), cell(fmt.format(r.tokens), 'num'),
        cell(r.amount, 'num'));
      body.appendChild(tr);
    });
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      tr.append(cell('no purchases this month'));
      tr.firstChild.colSpan = 5;
      body.appendChild(tr);
    }
  }

  function render(prefix, d) {
    const q = d.quota;
    for (const f of ['used', 'reserved', 'remaining', 'purchased', 'carried', 'allocated', 'limit']) {
      setNumber(prefix + '-' + f, q[f]);
    }
    setNumber(prefix + '-usage-pct', q.usage_percentage, q.usage_percentage.toFixed(2) + '%');
    drawGauge(prefix, q);
    setNumber(prefix + '-granted', d.blocks.granted);
    setNumber(prefix + '-blocked', d.blocks.rejected);
    setNumber(prefix + '-block-ratio', d.blocks.ratio, (d.blocks.ratio * 100).toFixed(1) + '%');
    setNumber(prefix + '-rate', d.forecast.tokens_per_day, fmt.format(Math.round(d.forecast.tokens_per_day)));
    const ex = d.forecast.projected_exhaustion;
    setNumber(prefix + '-exhaustion', ex, ex ? ex.slice(0, 10) : 'not this month');
    setNumber(prefix + '-reset', d.forecast.reset_at, d.forecast.reset_at.slice(0, 10));
    drawChart(prefix, d.daily_usage);
    fillTopConsumers(prefix, d.top_consumers);
    fillModels(prefix, d.models || []);
    fillPurchases(prefix, d.purchases);
    $(prefix + '-month').textContent = d.month;
  }

  async function fetchData(token, user) {
    const url = user ? DATA_URL + '?user_id=' + encodeURIComponent(user) : DATA_URL;
    const resp = await fetch(url, { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
    const body = await resp.json();
    if (!resp.ok) {
      throw new Error(body.detail || body.title || ('HTTP ' + resp.status));
    }
    return body;
  }

  async function load() {
    const token = $('admin-token').value.trim();
    if (!token) {
      $('status').textContent = 'Enter the admin token first.';
      return;
    }
    sessionStorage.setItem('tq-admin-token', token);
    document.body.dataset.state = 'loading';
    try {
      const all = await fetchData(token, null);
      let user = $('user-id').value.trim();
      if (!user && all.top_consumers.length > 0) {
        user = all.top_consumers[0].user_id;
        $('user-id').value = user;
      }
      render('all', all);
      $('all-subjects-label').textContent = fmt.format(all.subjects) + ' users with an account this month';
      $('panel-all').hidden = false;
      if (user) {
        const one = await fetchData(token, user);
        render('user', one);
        $('user-title').textContent = user;
        $('panel-user').hidden = false;
        $('panel-user').dataset.userId = user;
        $('panel-user').dataset.exists = String(one.exists);
      } else {
        $('panel-user').hidden = true;
      }
      loads += 1;
      document.body.dataset.loads = String(loads);
      document.body.dataset.state = 'loaded';
      $('status').textContent = 'Updated ' + new Date().toLocaleTimeString() + ' (server time ' + all.generated_at + ')';
    } catch (e) {
      document.body.dataset.state = 'error';
      $('status').textContent = 'Could not load: ' + e.message;
    }
  }

  function autoRefresh() {
    if (timer) {
      clearInterval(timer);
      timer = null;
    }
    if ($('auto-refresh').checked) {
      timer = setInterval(load, 5000);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    setupPanels();
    const saved = sessionStorage.getItem('tq-admin-token');
    if (saved) {
      $('admin-token').value = saved;
    }
    const params = new URLSearchParams(location.search);
    if (params.get('user_id')) {
      $('user-id').value = params.get('user_id');
    }
    $('controls').addEventListener('submit', (e) => { e.preventDefault(); load(); });
    $('auto-refresh').addEventListener('change', autoRefresh);
    document.body.dataset.state = 'ready';
    if (saved) {
      load();
    }
  });
})();

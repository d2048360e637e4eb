/*
 * ringbridge operator panel. Every `state` event from /panel/events carries the
 * whole picture and re-renders the four sections; one interval ticks the timers,
 * corrected by the offset between the server's clock and the browser's. Buttons
 * post actions to /panel/actions/<name>; the server's answer goes to #notice.
 * The stream may also say `unavailable` (engine unreadable) or `signed-out`.
 * Server strings reach the page only through text nodes and attributes.
 */
'use strict';

const EVENTS_URL = '/panel/events';
const SIGNIN_URL = '/panel/signin';
const RECONNECT_DELAY_MS = 5000;

let state = null;
let clockOffsetMs = 0;          // server clock minus browser clock
const pending = new Set();      // data-key of buttons whose request is running
const unparkChoice = new Map(); // call_id -> extension picked in its "take back" list
let noticeIsStreamProblem = false;

/* Builds an element; null attributes are left out, strings among the children become text nodes. */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== ''));
  return node;
}

/* A table cell whose content may wrap to two lines, never more (rows keep one height). */
function cell(...children) {
  return h('td', {}, h('div', { class: 'clip' }, ...children));
}

/* Replaces a section's table rows; an empty table gets a one-row placeholder. */
function fillTable(sectionId, rows, columns, emptyText) {
  const placeholder = h('tr', { class: 'placeholder' }, h('td', { colspan: columns }, emptyText));
  document.querySelector(`#${sectionId} tbody`).replaceChildren(...(rows.length ? rows : [placeholder]));
}

function byKey(key) { return document.querySelectorAll(`[data-key="${CSS.escape(key)}"]`); }

/* ---------- timers ---------- */
function serverNow() { return Date.now() + clockOffsetMs; }

function formatSeconds(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
}

function timer(attrs) {
  const span = h('span', attrs);
  updateTimer(span);
  return span;
}

/* Counts up from `since`, never showing less than `floorSeconds`. */
function elapsedTimer(since, floorSeconds = 0) {
  return timer({ class: 'timer', 'data-since': since, 'data-floor': floorSeconds });
}

function countdownTimer(until) { return timer({ class: 'timer time-left', 'data-until': until }); }

function updateTimer(span) {
  const { since, until, floor } = span.dataset;
  if (until) {
    const left = Math.ceil((Date.parse(until) - serverNow()) / 1000);
    span.textContent = left > 0 ? formatSeconds(left) : 'ringing back';
    span.classList.toggle('due', left <= 0);
    return;
  }
  const elapsed = since ? (serverNow() - Date.parse(since)) / 1000 : 0;
  span.textContent = formatSeconds(Math.max(Number(floor) || 0, elapsed));
}

function tick() { document.querySelectorAll('.timer').forEach(updateTimer); }

/* ---------- lookups ---------- */
function myExtensions() { return state ? state.me.extensions : []; }

function selectedExtension() {
  const chosen = document.getElementById('my-extension').value;
  const mine = myExtensions();
  return mine.includes(chosen) ? chosen : (mine[0] ?? '');
}

function findAgent(number) { return state.agents.find((agent) => agent.number === number); }

function agentLabel(number) {
  const agent = findAgent(number);
  return agent && agent.name ? `${number} ${agent.name}` : number;
}

function callerText(number, name) { return name ? `${name} ${number}` : number; }

function callerNode(number, name) {
  return h('span', { class: 'caller' }, name ? h('strong', {}, name) : null, name ? ' ' : null, number);
}

function youTag(mine) { return mine ? h('span', { class: 'you' }, 'you') : null; }

/* ---------- buttons ---------- */
/* `data` holds the data-* attributes the action needs; data-key names the button across renders. */
function actionButton(action, text, ariaLabel, data) {
  const key = [action, data['data-call'] ?? '', data['data-extension'] ?? ''].join(' ');
  const button = h('button', {
    type: 'button', class: `action action-${action}`, 'data-action': action,
    'data-key': key, 'aria-label': ariaLabel, ...data,
  }, text);
  button.disabled = pending.has(key);
  return button;
}

function actionsCell(...controls) {
  return h('td', { class: 'actions' }, h('div', { class: 'action-row' }, ...controls));
}

/* ---------- agents ---------- */
function agentStateNode(agent) {
  const group = agent.group ? ` (${agent.group})` : '';
  const span = (kind, ...text) => h('span', { class: `state st-${kind}` }, ...text);
  switch (agent.state) {
    case 'ringing': return span('ringing', `ringing: ${agent.peer}${group}`);
    case 'talking': return span('talking', `talking with ${agent.peer} `, elapsedTimer(agent.since));
    case 'calling': return span('calling', `calling ${agent.peer}${group}`);
    case 'parked': return span('parked', 'parked a call');
    default: return span('idle', 'idle');
  }
}

function pauseButton(agent) {
  const who = `agent ${agentLabel(agent.number)}`;
  const data = { 'data-extension': agent.number };
  return agent.paused
    ? actionButton('resume', 'Resume', `Resume ${who}`, data)
    : actionButton('pause', 'Pause', `Pause ${who}`, data);
}

function agentRow(agent) {
  const pausedText = agent.pause_reason ? `paused: ${agent.pause_reason}` : 'paused';
  return h('tr', {
    'data-agent': agent.number, 'data-state': agent.state, 'data-paused': String(agent.paused),
    'data-registered': String(agent.registered), class: agent.mine ? 'mine' : null,
  },
  cell(h('strong', { class: 'num' }, agent.number), ' ', agent.name, youTag(agent.mine)),
  cell(h('span', { class: agent.registered ? 'reg reg-yes' : 'reg reg-no' },
    agent.registered ? 'registered' : 'not registered')),
  cell(h('span', { class: agent.paused ? 'avail avail-paused' : 'avail' },
    agent.paused ? pausedText : 'available')),
  cell(agentStateNode(agent)),
  actionsCell(agent.mine || state.me.admin ? pauseButton(agent) : null));
}

/* ---------- ring groups ---------- */
function memberItem(member) {
  const agent = findAgent(member.number);
  const notes = agent ? [agent.paused ? ' · paused' : '', agent.registered ? '' : ' · not registered'] : [];
  return h('li', {}, h('strong', { class: 'num' }, member.number), ' ', member.name, ' — ',
    agent ? agentStateNode(agent) : 'unknown', ...notes);
}

function waitingItem(waiting) {
  return h('li', { 'data-waiting': waiting.call_id },
    `${waiting.caller} · ${waiting.priority} · waited `, elapsedTimer(waiting.since));
}

/* The larger of the day's longest wait and the wait of the oldest caller still waiting. */
function longestWait(group) {
  const oldest = group.waiting.map((waiting) => waiting.since)
    .sort((a, b) => Date.parse(a) - Date.parse(b))[0];
  if (!oldest && group.longest_wait === null) return '—';
  return elapsedTimer(oldest ?? null, group.longest_wait ?? 0);
}

function groupBlock(group) {
  const members = group.members.map(memberItem);
  const waiting = group.waiting.map(waitingItem);
  return h('article', { class: 'group', 'data-group': group.number },
    h('h3', {}, h('span', { class: 'num' }, group.number), ' ', group.name,
      h('span', { class: 'strategy' }, group.strategy.toLowerCase().replaceAll('_', ' '))),
    h('p', { class: 'stats' },
      `answered today ${group.answered_today} · missed today ${group.missed_today} · longest wait `,
      longestWait(group)),
    h('ul', { class: 'members', 'aria-label': `Members of ${group.number}` },
      ...(members.length ? members : [h('li', {}, 'No members')])),
    h('ol', { class: 'waiting', 'aria-label': `Waiting in ${group.number}` },
      ...(waiting.length ? waiting : [h('li', { class: 'placeholder' }, 'Nobody waiting')])));
}

function renderGroups() {
  const blocks = state.groups.map(groupBlock);
  document.querySelector('#groups .group-list').replaceChildren(
    ...(blocks.length ? blocks : [h('p', { class: 'placeholder' }, 'No ring groups')]));
}

/* ---------- parking lot ---------- */
/* The extension a parked call goes back to: the operator's pick, else mine, else the first agent. */
function unparkTarget(parked, callerLabel) {
  const numbers = state.agents.map((agent) => agent.number);
  const select = h('select', {
    'data-target-for': parked.call_id, 'data-key': `target ${parked.call_id}`,
    'aria-label': `Extension to take back the call from ${callerLabel} to`,
  }, ...numbers.map((number) => h('option', { value: number }, agentLabel(number))));
  const choices = [unparkChoice.get(parked.call_id), selectedExtension(), numbers[0]];
  select.value = choices.find((choice) => numbers.includes(choice)) ?? '';
  return select;
}

function parkedRow(parked) {
  const callerLabel = callerText(parked.caller, parked.caller_name);
  return h('tr', { 'data-slot': parked.slot, 'data-call': parked.call_id },
    cell(h('strong', { class: 'num' }, parked.slot)),
    cell(callerNode(parked.caller, parked.caller_name)),
    cell(agentLabel(parked.parked_by)),
    cell(countdownTimer(parked.rings_back_at)),
    actionsCell(unparkTarget(parked, callerLabel),
      actionButton('unpark', 'Take back', `Take back the call from ${callerLabel} in slot ${parked.slot}`,
        { 'data-call': parked.call_id })));
}

/* Forgets the "take back" picks of calls that left the parking lot. */
function forgetUnparkedChoices() {
  const parkedIds = new Set(state.parked.map((parked) => parked.call_id));
  [...unparkChoice.keys()].filter((id) => !parkedIds.has(id)).forEach((id) => unparkChoice.delete(id));
}

/* ---------- live calls ---------- */
function callButtons(call) {
  const from = `call from ${callerText(call.caller, call.caller_name)}`;
  const to = call.agent || call.group;
  const buttons = [];
  if ((call.state === 'ringing' || call.state === 'parked') && myExtensions().length) {
    buttons.push(actionButton('pickup', 'Pick up', `Pick up ${from}${to ? ` to ${to}` : ''}`,
      { 'data-call': call.call_id, 'data-extension': selectedExtension() }));
  }
  if (call.state === 'talking' && call.mine) {
    const extension = myExtensions().includes(call.agent) ? call.agent : selectedExtension();
    buttons.push(actionButton('park', 'Park', `Park ${from} with ${extension}`,
      { 'data-call': call.call_id, 'data-extension': extension }));
  }
  if (state.me.admin) {
    buttons.push(actionButton('hangup', 'Hang up', `Hang up ${from}${to ? ` with ${to}` : ''}`,
      { 'data-call': call.call_id }));
  }
  return buttons;
}

function callRow(call) {
  return h('tr', { 'data-call': call.call_id, 'data-state': call.state, class: call.mine ? 'mine' : null },
    cell(callerNode(call.caller, call.caller_name)),
    cell(call.group || '—'),
    cell(call.agent ? agentLabel(call.agent) : '—', youTag(call.mine)),
    cell(h('span', { class: `state st-${call.state}` }, call.state)),
    cell(elapsedTimer(call.since)),
    actionsCell(...callButtons(call)));
}

/* ---------- whole page ---------- */
/* Offers a choice of extension only to operators who have more than one. */
function renderMyExtension() {
  const select = document.getElementById('my-extension');
  const mine = myExtensions();
  select.closest('label').hidden = mine.length < 2;
  if ([...select.options].map((option) => option.value).join() === mine.join()) return;
  const kept = select.value;
  select.replaceChildren(...mine.map((extension) => h('option', { value: extension }, extension)));
  if (mine.includes(kept)) select.value = kept;
}

/* Re-renders everything and gives focus back to the control that had it. */
function render() {
  const focusedKey = document.activeElement?.dataset?.key;
  renderMyExtension();
  forgetUnparkedChoices();
  fillTable('agents', state.agents.map(agentRow), 5, 'No agents');
  renderGroups();
  fillTable('parking', state.parked.map(parkedRow), 5, 'No parked calls');
  fillTable('calls', state.calls.map(callRow), 6, 'No live calls');
  if (focusedKey) byKey(focusedKey)[0]?.focus();
}

function receiveState(data) {
  state = JSON.parse(data);
  clockOffsetMs = Date.parse(state.now) - Date.now();
  if (noticeIsStreamProblem) showNotice('', false);
  render();
}

function receiveUnavailable(data) {
  showNotice(JSON.parse(data).message, true);
  noticeIsStreamProblem = true;
}

function setLive(live) {
  const indicator = document.getElementById('live');
  indicator.textContent = live ? 'live' : 'reconnecting…';
  indicator.dataset.live = String(live);
}

/* EventSource retries by itself; if it gives up (closed), start a new one. */
function connect() {
  const source = new EventSource(EVENTS_URL);
  source.addEventListener('open', () => setLive(true));
  source.addEventListener('state', (event) => receiveState(event.data));
  source.addEventListener('unavailable', (event) => receiveUnavailable(event.data));
  source.addEventListener('signed-out', () => window.location.assign(SIGNIN_URL));
  source.addEventListener('error', () => {
    setLive(false);
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, RECONNECT_DELAY_MS);
  });
}

/* ---------- actions ---------- */
function showNotice(message, isError) {
  const notice = document.getElementById('notice');
  notice.textContent = message;
  notice.classList.toggle('error', isError);
  noticeIsStreamProblem = false;
}

/* The request body for a button, or null when the operator cancels. */
function actionBody(button) {
  const { action, call, extension } = button.dataset;
  switch (action) {
    case 'pickup':
    case 'park': return { call_id: call, extension };
    case 'unpark': {
      const target = document.querySelector(`select[data-target-for="${CSS.escape(call)}"]`);
      return { call_id: call, extension: target.value };
    }
    case 'hangup': return window.confirm(`${button.getAttribute('aria-label')}?`) ? { call_id: call } : null;
    case 'pause': {
      const reason = window.prompt('Reason for the pause (optional)');
      return reason === null ? null : { extension, reason: reason.trim() };
    }
    case 'resume': return { extension };
    default: return null;
  }
}

function postAction(action, body) {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  return fetch(`/panel/actions/${encodeURIComponent(action)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
    body: JSON.stringify(body),
    credentials: 'same-origin',
  });
}

async function readAnswer(response) {
  const fallback = { ok: false, message: `Request failed (HTTP ${response.status})` };
  try {
    const answer = await response.json();
    return typeof answer.message === 'string' ? answer : fallback;
  } catch {
    return fallback;
  }
}

function setPending(key, running) {
  if (running) pending.add(key);
  else pending.delete(key);
  byKey(key).forEach((button) => { button.disabled = running; });
}

async function runAction(button) {
  const body = actionBody(button);
  if (!body) return;
  const key = button.dataset.key;
  const hadFocus = document.activeElement === button;
  setPending(key, true);
  try {
    const response = await postAction(button.dataset.action, body);
    if (response.status === 401) { window.location.assign(SIGNIN_URL); return; }
    const answer = await readAnswer(response);
    showNotice(answer.message, !(response.ok && answer.ok));
  } catch {
    showNotice('Could not reach the server; try again.', true);
  } finally {
    setPending(key, false);
    if (hadFocus && document.activeElement === document.body) byKey(key)[0]?.focus();
  }
}

function onClick(event) {
  const button = event.target.closest('button[data-action]');
  if (button && !button.disabled) runAction(button);
}

function onChange(event) {
  const target = event.target;
  if (target.id === 'my-extension' && state) render();
  if (target.dataset.targetFor) unparkChoice.set(target.dataset.targetFor, target.value);
}

document.addEventListener('click', onClick);
document.addEventListener('change', onChange);
setInterval(tick, 1000);
connect();

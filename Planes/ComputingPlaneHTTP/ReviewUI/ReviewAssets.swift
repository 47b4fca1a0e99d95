// The review page's static files, compiled into the binary (not Bundle.module: `delong` installed alone
// has no resource bundle beside it). No inline script or style, no third-party asset: the CSP allows only
// 'self'. Output data reaches the DOM through textContent only; the page never builds markup from it.

enum ReviewAssets {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>DeLong output review</title>
        <link rel="stylesheet" href="/review/app.css">
        <script src="/review/app.js" defer></script>
        </head>
        <body>
        <header>
        <h1>DeLong output review</h1>
        <span id="who"></span>
        <button id="signin" type="button">Sign in with wallet</button>
        <button id="signout" type="button" hidden>Sign out</button>
        </header>
        <p id="status" role="status"></p>
        <main>
        <section id="queue-section" hidden>
        <h2>Waiting for your review</h2>
        <p id="queue-empty" hidden>Nothing waits for your review.</p>
        <table id="queue">
        <thead><tr><th>Job</th><th>Dataset</th><th>Approvals</th><th>Files</th><th>Waiting since</th><th>Deadline</th><th></th></tr></thead>
        <tbody></tbody>
        </table>
        </section>
        <section id="case" hidden></section>
        </main>
        </body>
        </html>

        """#

    static let css = #"""
        body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5em 2em; color: #1b1b1b; }
        header { display: flex; gap: 1em; align-items: center; border-bottom: 1px solid #ccc; }
        header h1 { font-size: 1.2em; flex: 1; }
        #status { min-height: 1.4em; }
        #status.error { color: #a40000; font-weight: bold; }
        table { border-collapse: collapse; margin: .5em 0; }
        th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }
        code, .mono, pre, ol.lines { font-family: ui-monospace, monospace; font-size: 12px; }
        .file { border: 1px solid #bbb; margin: 1em 0; padding: .5em 1em; }
        .file h3 { margin: .2em 0; word-break: break-all; }
        td.flag, li.flag, tr.flag > td { background: #ffd6d6; outline: 1px solid #d00; }
        ol.lines { white-space: pre-wrap; word-break: break-all; background: #f7f7f7; padding-left: 4em; }
        .verdict-block { color: #a40000; }
        .verdict-review { color: #8a5a00; }
        .truncated, .nopreview { font-style: italic; color: #555; }
        .decide { border-top: 1px solid #ccc; margin-top: 1em; padding-top: .5em; }
        #reason { width: 40em; max-width: 100%; }
        #log li { word-break: break-all; }
        img.preview { max-width: 100%; border: 1px solid #ccc; }

        """#

    static let js = #"""
        'use strict';
        (function () {
          const state = { address: null, csrf: null, current: null };
          const byId = (id) => document.getElementById(id);

          function el(tag, text, cls) {
            const node = document.createElement(tag);
            if (text !== undefined && text !== null) node.textContent = String(text);
            if (cls) node.className = cls;
            return node;
          }
          function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
          function status(text, isError) {
            const s = byId('status');
            s.textContent = text;
            s.className = isError ? 'error' : '';
          }
          function when(ms) { return new Date(Number(ms)).toISOString(); }
          function toHex(text) {
            let out = '0x';
            for (const b of new TextEncoder().encode(text)) out += b.toString(16).padStart(2, '0');
            return out;
          }

          async function api(path, options) {
            const opts = options || {};
            const method = opts.method || 'GET';
            const headers = { 'Accept': 'application/json' };
            if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
            if (method !== 'GET' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
            const response = await fetch(path, {
              method, headers, credentials: 'same-origin', cache: 'no-store',
              body: opts.body === undefined ? undefined : JSON.stringify(opts.body)
            });
            let data = null;
            try { data = await response.json(); } catch (e) { data = null; }
            if (!response.ok) {
              const error = new Error(data && data.error ? data.error.message : 'HTTP ' + response.status);
              error.status = response.status;
              throw error;
            }
            return data;
          }

          async function signIn() {
            if (!window.ethereum) { status('No wallet: this page needs an EIP-1193 wallet (window.ethereum).', true); return; }
            try {
              status('Asking the wallet…');
              const accounts = await window.ethereum.request({ method: 'eth_requestAccounts' });
              if (!accounts || !accounts.length) throw new Error('the wallet gave no account');
              const address = accounts[0];
              const offer = await api('/review/api/message?address=' + encodeURIComponent(address));
              const signature = await window.ethereum.request({ method: 'personal_sign', params: [toHex(offer.message), address] });
              const session = await api('/review/api/signin', { method: 'POST', body: { message: offer.message, signature } });
              state.address = session.address;
              state.csrf = session.csrf;
              byId('who').textContent = 'Signed in as ' + session.address;
              byId('signin').hidden = true;
              byId('signout').hidden = false;
              status('Signed in until ' + session.expiresAt + '.');
              await loadQueue();
            } catch (e) {
              status('Sign-in failed: ' + e.message, true);
            }
          }

          async function signOut() {
            try { await api('/review/api/signout', { method: 'POST', body: {} }); } catch (e) { /* the session may have ended */ }
            state.address = null;
            state.csrf = null;
            byId('who').textContent = '';
            byId('signin').hidden = false;
            byId('signout').hidden = true;
            byId('queue-section').hidden = true;
            byId('case').hidden = true;
            status('Signed out.');
          }

          async function loadQueue() {
            const data = await api('/review/api/queue');
            const body = byId('queue').tBodies[0];
            clear(body);
            for (const item of data.cases) {
              const row = el('tr');
              row.dataset.job = item.job;
              row.appendChild(el('td', item.job, 'mono'));
              row.appendChild(el('td', item.dataset, 'mono'));
              const progress = el('td', item.progress + (item.shortfall ? ' (' + item.shortfall + ')' : ''));
              row.appendChild(progress);
              row.appendChild(el('td', item.files));
              row.appendChild(el('td', when(item.since)));
              row.appendChild(el('td', when(item.deadline)));
              const cell = el('td');
              const open = el('button', item.decidedByMe ? 'View (decided)' : 'Review', 'open-case');
              open.type = 'button';
              open.dataset.job = item.job;
              open.addEventListener('click', () => openCase(item.job));
              cell.appendChild(open);
              row.appendChild(cell);
              body.appendChild(row);
            }
            byId('queue-empty').hidden = data.cases.length > 0;
            byId('queue-section').hidden = false;
          }

          function findingsTable(findings) {
            const table = el('table', null, 'findings');
            const head = el('tr');
            for (const name of ['Check', 'Severity', 'Where', 'Detail']) head.appendChild(el('th', name));
            table.appendChild(head);
            for (const f of findings) {
              const row = el('tr', null, 'finding');
              row.appendChild(el('td', f.check));
              row.appendChild(el('td', f.severity));
              row.appendChild(el('td', f.where));
              row.appendChild(el('td', f.detail));
              table.appendChild(row);
            }
            return table;
          }

          function renderTable(file) {
            const flagged = new Set();
            const rowsFlagged = new Set();
            for (const [r, c] of file.flagged) {
              if (c < 0) rowsFlagged.add(r); else flagged.add(r + ':' + c);
            }
            const table = el('table', null, 'output-table');
            file.rows.forEach((cells, r) => {
              const row = el('tr', null, rowsFlagged.has(r) ? 'flag' : '');
              cells.forEach((value, c) => {
                const cell = el(r === 0 ? 'th' : 'td', value, flagged.has(r + ':' + c) ? 'flag' : '');
                row.appendChild(cell);
              });
              table.appendChild(row);
            });
            return table;
          }

          function renderLines(file) {
            const list = el('ol', null, 'lines');
            const flagged = new Set(file.flagged);
            file.lines.forEach((line, i) => {
              list.appendChild(el('li', line, flagged.has(i + 1) ? 'flag' : ''));
            });
            return list;
          }

          function renderFile(c, file) {
            const box = el('section', null, 'file');
            box.dataset.index = String(file.index);
            box.appendChild(el('h3', file.path));
            box.appendChild(el('p', 'gate: ' + file.decision + ' · ' + file.size + ' bytes · sha256 ' + file.sha256,
              'verdict-' + file.decision));
            if (file.findings.length) box.appendChild(findingsTable(file.findings));
            if (file.kind === 'table') box.appendChild(renderTable(file));
            else if (file.kind === 'text' || file.kind === 'binary') box.appendChild(renderLines(file));
            else if (file.kind === 'image') {
              if (file.preview) {
                const img = el('img', null, 'preview');
                img.alt = 're-encoded preview';
                img.src = '/review/api/cases/' + c.job + '/files/' + file.index + '/image';
                box.appendChild(img);
              } else {
                box.appendChild(el('p', 'Image: no preview (no re-encoded copy).', 'nopreview'));
              }
            }
            if (file.truncated) box.appendChild(el('p', 'Truncated: the page shows the first part only.', 'truncated'));
            return box;
          }

          function renderLog(target, entries) {
            clear(target);
            for (const e of entries) {
              const item = el('li', null, 'log-' + e.kind);
              item.dataset.kind = e.kind;
              let text = '#' + e.seq + ' ' + e.kind + ' ' + e.hash;
              if (e.reviewer) text += ' reviewer ' + e.reviewer;
              if (e.approve !== null && e.approve !== undefined) text += e.approve ? ' approved' : ' rejected';
              if (e.reason) text += ': ' + e.reason;
              if (e.signature) text += ' (signature ' + e.signature + ')';
              if (e.outcome) text += ' outcome ' + e.outcome;
              item.textContent = text;
              target.appendChild(item);
            }
          }

          async function openCase(job) {
            try {
              const c = await api('/review/api/cases/' + job);
              state.current = c;
              const view = byId('case');
              clear(view);
              view.dataset.job = c.job;
              view.appendChild(el('h2', 'Job ' + c.job));
              view.appendChild(el('p', 'Dataset ' + c.dataset + ' · output sha256 ' + c.outputDigest + ' · gate: ' + c.gateDecision));
              view.appendChild(el('p', 'Approvals ' + c.progress + (c.shortfall ? ' · ' + c.shortfall : '') +
                ' · deadline ' + when(c.deadline)));
              const decisions = el('ul', null, 'decisions');
              for (const d of c.decisions) {
                decisions.appendChild(el('li', d.reviewer + (d.approve ? ' approved: ' : ' rejected: ') + d.reason));
              }
              view.appendChild(el('h3', 'Decisions so far'));
              view.appendChild(decisions);
              for (const file of c.files) view.appendChild(renderFile(c, file));
              const form = el('div', null, 'decide');
              const label = el('label', 'Reason (required) ');
              const reason = el('input');
              reason.id = 'reason';
              reason.type = 'text';
              reason.maxLength = 1000;
              label.appendChild(reason);
              form.appendChild(label);
              const approve = el('button', 'Approve and sign');
              approve.id = 'approve';
              approve.type = 'button';
              approve.addEventListener('click', () => decide(true));
              const reject = el('button', 'Reject and sign');
              reject.id = 'reject';
              reject.type = 'button';
              reject.addEventListener('click', () => decide(false));
              form.appendChild(approve);
              form.appendChild(reject);
              view.appendChild(form);
              const result = el('p');
              result.id = 'decision-result';
              view.appendChild(result);
              view.appendChild(el('h3', 'Decision log of this job'));
              const log = el('ol');
              log.id = 'log';
              view.appendChild(log);
              renderLog(log, c.log);
              view.hidden = false;
              status('Case ' + c.job + ' open.');
            } catch (e) {
              status('Cannot open the case: ' + e.message, true);
            }
          }

          async function decide(approve) {
            const c = state.current;
            const reason = byId('reason').value.trim();
            if (!reason) { status('A reason is required.', true); byId('reason').focus(); return; }
            const decidedAt = Math.floor(Date.now() / 1000);
            const typed = {
              types: {
                EIP712Domain: [
                  { name: 'name', type: 'string' }, { name: 'version', type: 'string' },
                  { name: 'chainId', type: 'uint256' }, { name: 'verifyingContract', type: 'address' }
                ],
                DeLongReview: [
                  { name: 'jobId', type: 'bytes32' }, { name: 'outputDigest', type: 'bytes32' },
                  { name: 'approve', type: 'bool' }, { name: 'reason', type: 'string' },
                  { name: 'decidedAt', type: 'uint64' }
                ]
              },
              primaryType: 'DeLongReview',
              domain: c.domain,
              message: { jobId: c.job, outputDigest: c.outputDigest, approve, reason, decidedAt }
            };
            try {
              status('Asking the wallet to sign the decision…');
              const signature = await window.ethereum.request({
                method: 'eth_signTypedData_v4', params: [state.address, JSON.stringify(typed)]
              });
              const result = await api('/review/api/cases/' + c.job + '/decision', {
                method: 'POST', body: { approve, reason, decidedAt, signature }
              });
              byId('decision-result').textContent = (approve ? 'Approved' : 'Rejected') + ' by ' + result.reviewer +
                ' (' + result.approvals + '/' + result.required + ' approvals' + (result.settled ? ', ' + result.settled : '') + ').';
              renderLog(byId('log'), result.log);
              byId('approve').disabled = true;
              byId('reject').disabled = true;
              status('Decision signed and logged.');
            } catch (e) {
              status('The decision was not accepted: ' + e.message, true);
            }
          }

          document.addEventListener('DOMContentLoaded', () => {
            byId('signin').addEventListener('click', signIn);
            byId('signout').addEventListener('click', signOut);
          });
        })();

        """#
}

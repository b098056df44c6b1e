import { printMatcher } from '../../route/matcher.ts';
import { silenceState, type Silence } from '../../route/silence.ts';
import { html, lines, type Html } from './html.ts';
import { ago, csrfField, when } from './layout.ts';

/** Silences: the list (active, pending, recently expired with "silence again"), the form, expire. */

/** The comment of a silence made by "Acknowledge" starts so: the board then says acknowledged, not silenced. */
export const ACK_PREFIX = 'Acknowledged: ';
export const isAck = (s: Pick<Silence, 'comment'>): boolean => s.comment.startsWith(ACK_PREFIX);

export interface SilenceFormValues {
  matchers: string[];
  duration: string;
  comment: string;
  error?: string;
}

/** The create form, prefilled (from a finding, a filter, an expired silence, or a link in a message). */
export function silenceForm(v: SilenceFormValues, canWrite: boolean, csrf: string, createdBy: string): Html {
  if (!canWrite) {
    return html`<h1>New silence</h1>
<p class="notice">You may read but not write: creating a silence needs the writer role (MESHDRIFT_UI_WRITERS).</p>
<p>Matchers it would have:</p><ul>${v.matchers.map((m) => html`<li><code>${m}</code></li>`)}</ul>`;
  }
  return html`<h1>New silence</h1>
${v.error === undefined ? '' : html`<p class="problem" role="alert">${v.error}</p>`}
<form method="post" action="/ui/silences" class="form-grid" id="silence-form">
${csrfField(csrf)}
<label for="matchers">Matchers</label>
<textarea id="matchers" name="matchers" rows="${Math.max(3, v.matchers.length + 1)}" required spellcheck="false">${lines(v.matchers)}</textarea>
<span class="hint">One per line, as in Alertmanager: <code>cluster="prod"</code>, <code>severity=~"high|critical"</code>.</span>
<label for="duration">Duration</label>
<input id="duration" type="text" name="duration" value="${v.duration}" required>
<span class="hint">2h, 30m, 1d…</span>
<label for="comment">Comment</label>
<input id="comment" type="text" name="comment" value="${v.comment}" required>
<span class="muted">Created by</span><span>${createdBy}</span>
<span></span><span><button type="submit" class="primary">Create silence</button></span>
</form>`;
}

function row(s: Silence, now: number, canWrite: boolean, csrf: string): Html {
  const state = silenceState(s, now);
  const again = `/ui/silences/new?${new URLSearchParams([...s.matchers.map((m) => ['matcher', printMatcher(m)] as [string, string]), ['comment', s.comment]]).toString()}`;
  const action = !canWrite
    ? ''
    : state === 'expired'
      ? html`<a class="button" href="${again}">Silence again</a>`
      : html`<form class="inline" method="post" action="/ui/silences/${encodeURIComponent(s.id)}/expire" data-confirm="Expire this silence now?">${csrfField(csrf)}<button type="submit">Expire</button></form>`;
  return html`<tr data-silence="${s.id}">
<td><span class="status">${isAck(s) ? 'ack' : state}</span></td>
<td>${s.matchers.map((m) => html`<code>${printMatcher(m)}</code><br>`)}</td>
<td>${s.comment}<span class="because">by ${s.createdBy}</span></td>
<td class="hide-narrow">${when(Date.parse(s.startsAt))}</td>
<td>${state === 'expired' ? html`ended ${ago(now - Date.parse(s.endsAt))} ago` : html`ends in ${ago(Date.parse(s.endsAt) - now)}`}</td>
<td>${action}</td>
</tr>`;
}

function table(title: string, id: string, list: readonly Silence[], now: number, canWrite: boolean, csrf: string): Html {
  return html`<h2>${title} <span class="count">${list.length}</span></h2>
${
  list.length === 0
    ? html`<p class="muted">None.</p>`
    : html`<div class="table-wrap"><table id="${id}"><thead><tr><th>State</th><th>Matchers</th><th>Comment</th><th class="hide-narrow">Starts</th><th>Ends</th><th></th></tr></thead>
<tbody>${list.map((s) => row(s, now, canWrite, csrf))}</tbody></table></div>`
}`;
}

export function silencesBody(list: readonly Silence[], now: number, canWrite: boolean, csrf: string, created?: string): Html {
  const live = list.filter((s) => silenceState(s, now) !== 'expired');
  const expired = list.filter((s) => silenceState(s, now) === 'expired');
  return html`<h1>Silences</h1>
${created === undefined ? '' : html`<p class="notice" role="status">Silence <code>${created}</code> created.</p>`}
${canWrite ? html`<p><a class="button" href="/ui/silences/new">New silence</a></p>` : ''}
${table('Active and pending', 'silences-active', live, now, canWrite, csrf)}
${table('Recently expired', 'silences-expired', expired, now, canWrite, csrf)}`;
}

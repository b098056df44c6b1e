/**
 * The Block Kit types meshdrift renders (messages, thread replies, the action buttons and the
 * action log): types only, shared by the renderer (render.ts) and the interactive parts
 * (actions.ts) so neither imports the other for them.
 */

/** Block Kit text objects used by meshdrift messages. */
export interface SlackPlainText {
  type: 'plain_text';
  text: string;
  emoji?: boolean;
}
export interface SlackMrkdwn {
  type: 'mrkdwn';
  text: string;
  /**
   * true: Slack does not turn bare URLs, `#channel` names or `@here`-style words into links or
   * mentions (Block Kit text object). Set on every text that quotes the cluster's text.
   */
  verbatim?: boolean;
}

/** The subset of Block Kit meshdrift renders; assignable to @slack/web-api's `blocks`. */
export type SlackBlock =
  | { type: 'header'; text: SlackPlainText }
  | { type: 'section'; text: SlackMrkdwn }
  | { type: 'section'; fields: SlackMrkdwn[] }
  | { type: 'context'; elements: SlackMrkdwn[] }
  | { type: 'actions'; block_id: string; elements: SlackButton[] }
  | { type: 'divider' };

/** One Slack message: `text` is the notification preview, `blocks` the message body. */
export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

/** A Block Kit button, the subset meshdrift renders. */
export interface SlackButton {
  type: 'button';
  action_id: string;
  text: SlackPlainText;
  value: string;
  style?: 'primary' | 'danger';
}

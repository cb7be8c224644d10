/** The messages of a prompt, as curators write them and providers receive them. */

/** Who speaks a chat message. */
export type ChatRole = 'system' | 'user' | 'assistant';

/** One message of a prompt's conversation. */
export interface ChatMessage {
  /** Who speaks it. */
  role: ChatRole;
  /** Its text. */
  content: string;
}

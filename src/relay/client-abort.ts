/**
 * Fires when the client goes away, and is the signal of the upstream call. undici takes an EventEmitter as
 * well as an AbortSignal; an emitter costs a fraction of an AbortController per request (EventTarget set-up).
 */
import { EventEmitter } from 'node:events';

export class ClientAbort extends EventEmitter {
  aborted = false;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit('abort');
  }
}

/**
 * The progress hub: one stream of ProgressEvents (src/progress.ts) for model loading and per-request analysis
 * stages, which the server relays to the page as server-sent events. Model-loading events go to every
 * subscriber and the latest one per task is replayed to late subscribers; request events go only to the
 * subscriber that named that request id.
 */
import type { ProgressEvent } from '../progress.js';

type Listener = (event: ProgressEvent) => void;

export class ProgressHub {
  private readonly global = new Set<Listener>();
  private readonly byRequest = new Map<string, Set<Listener>>();
  /** Latest model-loading event per task, replayed on subscribe. */
  private readonly modelState = new Map<string, ProgressEvent>();

  /** Feed this to loadModel's onProgress. */
  readonly publishModel = (event: ProgressEvent): void => {
    const key = 'task' in event ? event.task : `notice:${this.modelState.size}`;
    this.modelState.set(key, event);
    for (const l of this.global) l(event);
  };

  publishRequest(requestId: string, event: ProgressEvent): void {
    const ls = this.byRequest.get(requestId);
    if (ls) for (const l of ls) l(event);
  }

  /** Subscribes to model events and, if `requestId` is given, that request's events. Returns the unsubscriber. */
  subscribe(listener: Listener, requestId?: string): () => void {
    for (const e of this.modelState.values()) listener(e);
    this.global.add(listener);
    if (requestId !== undefined) {
      let ls = this.byRequest.get(requestId);
      if (!ls) this.byRequest.set(requestId, (ls = new Set()));
      ls.add(listener);
    }
    return () => {
      this.global.delete(listener);
      if (requestId === undefined) return;
      const ls = this.byRequest.get(requestId);
      ls?.delete(listener);
      if (ls && ls.size === 0) this.byRequest.delete(requestId);
    };
  }

  get subscribers(): number {
    return this.global.size;
  }
}

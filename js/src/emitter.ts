/** A typed event emitter whose handlers can never break the emitter (SDK-API.md §2.2.2 `on`). */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyHandler = (...args: any[]) => unknown;

export class Emitter<Events extends { [K in keyof Events]: AnyHandler }> {
  private readonly handlers = new Map<keyof Events, Set<AnyHandler>>();

  /** Subscribe; returns the unsubscribe function. Adding the same handler twice has no effect. */
  on<K extends keyof Events>(event: K, handler: Events[K]): () => void {
    let set = this.handlers.get(event);
    if (set === undefined) {
      set = new Set();
      this.handlers.set(event, set);
    }
    set.add(handler);
    return () => this.off(event, handler);
  }

  off<K extends keyof Events>(event: K, handler: Events[K]): void {
    this.handlers.get(event)?.delete(handler);
  }

  once<K extends keyof Events>(event: K, handler: Events[K]): () => void {
    const wrapper = ((...args: unknown[]) => {
      this.off(event, wrapper);
      return handler(...args);
    }) as Events[K];
    return this.on(event, wrapper);
  }

  removeAllListeners(): void {
    this.handlers.clear();
  }

  listenerCount<K extends keyof Events>(event: K): number {
    return this.handlers.get(event)?.size ?? 0;
  }

  /** Call every handler; a throwing or rejecting handler is logged and the others still run. */
  protected emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    const set = this.handlers.get(event);
    if (set === undefined) return;
    for (const handler of [...set]) {
      try {
        const result = handler(...args);
        if (result instanceof Promise) {
          result.catch((exc: unknown) => console.error(`[openreactor] '${String(event)}' handler rejected:`, exc));
        }
      } catch (exc) {
        console.error(`[openreactor] '${String(event)}' handler threw:`, exc);
      }
    }
  }
}

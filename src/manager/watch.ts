/**
 * One informer, several controllers: each registers its handlers (its map functions from the
 * changed object to the keys it must reconcile, as controller-runtime's Watches with
 * EnqueueRequestsFromMapFunc), and the informer calls them all.
 */
export interface EventHandlers<T> {
  onChange?: (object: T) => void;
  onDelete?: (object: T) => void;
  onResync?: (object: T) => void;
}

export class Watch<T> {
  private readonly registered: EventHandlers<T>[] = [];

  /** Adds a controller's handlers. */
  add(handlers: EventHandlers<T>): void {
    this.registered.push(handlers);
  }

  /** The handlers to give the informer: each event goes to every registered controller. */
  readonly handlers: Required<EventHandlers<T>> = {
    onChange: (object) => {
      for (const h of this.registered) h.onChange?.(object);
    },
    onDelete: (object) => {
      for (const h of this.registered) h.onDelete?.(object);
    },
    onResync: (object) => {
      for (const h of this.registered) h.onResync?.(object);
    },
  };
}

/**
 * A min-heap of string keys ordered by due time (ties: first scheduled first), with one entry per
 * key and O(log n) insert, reschedule and removal. The work queue keeps every scheduled key in one
 * of these so thousands of scheduled rotations need one timer, set for the earliest.
 */

/** A key and the epoch milliseconds at which it falls due. */
export interface DueEntry {
  key: string;
  dueAt: number;
}

interface Node extends DueEntry {
  seq: number;
}

/** Keyed min-heap by due time; one entry per key, ties broken by first insertion. */
export class DueHeap {
  private readonly nodes: Node[] = [];
  private readonly index = new Map<string, number>();
  private seq = 0;

  get size(): number {
    return this.nodes.length;
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  /** The key's due time, or undefined if it is not in the heap. */
  dueAt(key: string): number | undefined {
    const i = this.index.get(key);
    return i === undefined ? undefined : this.nodes[i]?.dueAt;
  }

  /** The entry due first, without removing it. */
  peek(): DueEntry | undefined {
    const top = this.nodes[0];
    return top && { key: top.key, dueAt: top.dueAt };
  }

  /** Inserts the key, or moves it to the new due time (earlier or later) if present. */
  set(key: string, dueAt: number): void {
    const i = this.index.get(key);
    if (i === undefined) {
      this.nodes.push({ key, dueAt, seq: ++this.seq });
      this.index.set(key, this.nodes.length - 1);
      this.up(this.nodes.length - 1);
      return;
    }
    const node = this.at(i);
    const earlier = dueAt < node.dueAt;
    node.dueAt = dueAt;
    if (earlier) this.up(i);
    else this.down(i);
  }

  /** Removes the key if present; returns whether it was. */
  delete(key: string): boolean {
    const i = this.index.get(key);
    if (i === undefined) return false;
    this.removeAt(i);
    return true;
  }

  /** Removes every entry. */
  clear(): void {
    this.nodes.length = 0;
    this.index.clear();
  }

  /** Removes and returns the entry due first. */
  pop(): DueEntry | undefined {
    const top = this.nodes[0];
    if (!top) return undefined;
    this.removeAt(0);
    return { key: top.key, dueAt: top.dueAt };
  }

  private removeAt(i: number): void {
    const removed = this.at(i);
    const last = this.nodes.pop();
    this.index.delete(removed.key);
    if (last === undefined || i === this.nodes.length) return;
    this.nodes[i] = last;
    this.index.set(last.key, i);
    this.up(i);
    this.down(i);
  }

  private at(i: number): Node {
    const node = this.nodes[i];
    if (!node) throw new Error(`DueHeap: no node at ${i}`);
    return node;
  }

  private less(a: number, b: number): boolean {
    const x = this.at(a);
    const y = this.at(b);
    return x.dueAt < y.dueAt || (x.dueAt === y.dueAt && x.seq < y.seq);
  }

  private swap(a: number, b: number): void {
    const x = this.at(a);
    const y = this.at(b);
    this.nodes[a] = y;
    this.nodes[b] = x;
    this.index.set(y.key, a);
    this.index.set(x.key, b);
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.nodes.length;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < n && this.less(left, smallest)) smallest = left;
      if (right < n && this.less(right, smallest)) smallest = right;
      if (smallest === i) return;
      this.swap(i, smallest);
      i = smallest;
    }
  }
}

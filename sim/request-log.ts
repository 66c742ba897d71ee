/** Every request the simulator served, so tests and benchmarks can count API calls. */

export interface SimRequestRecord {
  method: string;
  /** Path template without /v1, e.g. "/servers/{id}"; the raw path when no route matched. */
  path: string;
  status: number;
  /** Name of the project whose token the request carried; null when it carried none we know (401). */
  project: string | null;
  /** Unix milliseconds when the request was answered. */
  at: number;
}

export class RequestLog {
  private records: SimRequestRecord[] = [];

  record(entry: SimRequestRecord): void {
    this.records.push(entry);
  }

  list(): SimRequestRecord[] {
    return [...this.records];
  }

  clear(): void {
    this.records = [];
  }
}

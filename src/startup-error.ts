/** A problem the operator fixes before the gateway (or the CLI) can run: its message says what; no stack is printed. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * npm runs a script as `sh -c "<command>"`, and on SIGTERM or SIGINT passes the signal to that shell only. dash
 * (Debian's sh) neither execs its command nor passes the signal on: it dies of SIGTERM, and the script it started
 * is left running under init. A script that should stop with npm calls this: `onGone` runs once the shell that
 * npm started it in is gone. Outside `npm run <script>` it does nothing, so a script started directly (say
 * under nohup) does not care what happens to its parent.
 */
const CHECK_MS = 200;

export function whenNpmParentGone(script, onGone) {
  if (process.env.npm_lifecycle_event !== script) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone(parent);
  }, CHECK_MS);
  timer.unref();
}

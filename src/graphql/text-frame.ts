/**
 * One final, unmasked WebSocket text frame (RFC 6455 §5.2) carrying `head` then `body` (or its parts, in
 * order): what a server sends, built in one buffer so the socket takes it in one write.
 */
export function textFrame(head: Buffer, body: Buffer | readonly Buffer[]): Buffer {
  const parts = Buffer.isBuffer(body) ? [body] : body;
  let length = head.length;
  for (const part of parts) length += part.length;
  const frame = frameFor(length);
  // set() rather than copy(): this runs once per delivery, and copy() re-validates its arguments each time.
  let offset = frame.length - length;
  frame.set(head, offset);
  offset += head.length;
  for (const part of parts) {
    frame.set(part, offset);
    offset += part.length;
  }
  return frame;
}

/** The same frame carrying a string, encoded straight into it (no intermediate Buffer to copy from). */
export function textFrameOf(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const frame = frameFor(length);
  frame.write(text, frame.length - length, length, 'utf8');
  return frame;
}

/** A buffer for a frame with a payload of `length` bytes, its header written, the payload still to fill. */
function frameFor(length: number): Buffer {
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81; // FIN, opcode 1 (text)
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  return frame;
}

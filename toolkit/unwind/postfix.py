"""Breakpad's postfix language: STACK WIN FrameData programs and STACK CFI rule expressions.

The project's own evaluator (the issue asks for it; Breakpad's is C++ and rust-minidump's is
Rust). Semantics follow Breakpad's processor/postfix_evaluator-inl.h, which defines the format:

- tokens are whitespace-separated; a token that starts with ``=`` and is longer than one
  character is ``=`` followed by the rest (MSVC 2010 /LTCG emits ``=$eip``);
- ``+ - * / %`` pop two values (second operand on top); ``@`` aligns down: ``a & ~(b - 1)``;
- ``^`` pops an address and pushes the pointer-sized word there;
- ``=`` pops a value and then an identifier, which must start with ``$``, and assigns it;
- anything else is pushed as is: a literal (decimal, optional leading ``-``) or an identifier
  (``$eip``, ``$T0``, ``.cbSavedRegs``, ``.raSearch`` ...), resolved when popped; an unknown
  identifier is an error, never a default.
Values wrap at the pointer width (unsigned 32-bit on x86), as in Breakpad's ``uint32_t`` math.

A STACK WIN program must leave the stack empty; a STACK CFI expression must leave one value.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional, Set, Tuple, Union

from toolkit.model.errors import CorruptInput, UnreadableMemory

ReadMemory = Callable[[int, int], bytes]
Token = Union[int, str]


class PostfixError(CorruptInput):
    """A program string could not be evaluated (malformed, unknown name, unreadable memory).

    Walkers catch it and fall back to the next rule (frame pointer, scan), as Breakpad does.
    """


_BINARY = {"+", "-", "*", "/", "%", "@"}


def _literal(token: str) -> Optional[int]:
    body = token[1:] if token.startswith("-") else token
    if not body.isdigit():
        return None
    return -int(body) if token.startswith("-") else int(body)


class PostfixEvaluator:
    """Evaluates programs against a dictionary of variables and a memory reader."""

    def __init__(self, variables: Mapping[str, int], read: Optional[ReadMemory],
                 pointer_size: int = 4) -> None:
        self.variables: Dict[str, int] = dict(variables)
        self.read = read
        self.pointer_size = pointer_size
        self.mask = (1 << (8 * pointer_size)) - 1
        self.assigned: Set[str] = set()

    def _value(self, token: Token, expression: str) -> int:
        if isinstance(token, int):
            return token
        literal = _literal(token)
        if literal is not None:
            return literal & self.mask
        if token not in self.variables:
            raise PostfixError(f"identifier {token} not in dictionary: {expression!r}")
        return self.variables[token]

    def _deref(self, address: int, expression: str) -> int:
        if self.read is None:
            raise PostfixError(f"dereference without memory: {expression!r}")
        try:
            raw = self.read(address, self.pointer_size)
        except UnreadableMemory as exc:
            raise PostfixError(f"cannot dereference {address:#x}: {expression!r}") from exc
        if len(raw) != self.pointer_size:
            raise PostfixError(f"cannot dereference {address:#x}: {expression!r}")
        return int.from_bytes(raw, "little")

    def _run(self, expression: str) -> List[Token]:
        stack: List[Token] = []
        for raw_token in expression.split():
            tokens = ["=", raw_token[1:]] if len(raw_token) > 1 and raw_token[0] == "=" \
                else [raw_token]
            for token in tokens:
                self._step(token, stack, expression)
        return stack

    def _pop(self, stack: List[Token], expression: str) -> Token:
        if not stack:
            raise PostfixError(f"stack underflow: {expression!r}")
        return stack.pop()

    def _step(self, token: str, stack: List[Token], expression: str) -> None:
        if token in _BINARY:
            b = self._value(self._pop(stack, expression), expression)
            a = self._value(self._pop(stack, expression), expression)
            if token in ("/", "%") and b == 0:
                raise PostfixError(f"division by zero: {expression!r}")
            if token == "+":
                result = a + b
            elif token == "-":
                result = a - b
            elif token == "*":
                result = a * b
            elif token == "/":
                result = a // b
            elif token == "%":
                result = a % b
            else:
                if b == 0:
                    raise PostfixError(f"align by zero: {expression!r}")
                result = a & (self.mask ^ ((b - 1) & self.mask))
            stack.append(result & self.mask)
        elif token == "^":
            address = self._value(self._pop(stack, expression), expression)
            stack.append(self._deref(address, expression))
        elif token == "=":
            value = self._value(self._pop(stack, expression), expression)
            target = self._pop(stack, expression)
            if isinstance(target, int) or _literal(target) is not None or \
                    not target.startswith("$"):
                raise PostfixError(f"cannot assign to {target}: {expression!r}")
            self.variables[target] = value
            self.assigned.add(target)
        else:
            stack.append(token)

    def evaluate(self, program: str) -> Dict[str, int]:
        """Run a STACK WIN program; returns the variables it assigned."""
        stack = self._run(program)
        if stack:
            raise PostfixError(f"incomplete execution, {len(stack)} left: {program!r}")
        return {name: self.variables[name] for name in self.assigned}

    def evaluate_for_value(self, expression: str) -> int:
        """Evaluate one STACK CFI expression, which must leave exactly one value."""
        stack = self._run(expression)
        if len(stack) != 1:
            raise PostfixError(f"expression yielded {len(stack)} values: {expression!r}")
        return self._value(stack[0], expression)


def parse_cfi_rules(text: str) -> Dict[str, str]:
    """``.cfa: $esp 4 + .ra: .cfa 4 - ^`` -> {".cfa": "$esp 4 +", ".ra": ".cfa 4 - ^"}."""
    rules: Dict[str, str] = {}
    name: Optional[str] = None
    body: List[str] = []
    for token in text.split():
        if token.endswith(":") and len(token) > 1:
            if name is not None:
                rules[name] = " ".join(body)
            name, body = token[:-1], []
        elif name is None:
            raise PostfixError(f"CFI rule text does not start with a register: {text!r}")
        else:
            body.append(token)
    if name is not None:
        rules[name] = " ".join(body)
    return rules


def evaluate_cfi(rules: Mapping[str, str], registers: Mapping[str, int],
                 read: Optional[ReadMemory], pointer_size: int = 4
                 ) -> Tuple[Dict[str, int], List[str]]:
    """Apply a STACK CFI rule set: ``.cfa`` first, then every register rule (which may use it).

    Returns the caller's registers by rule name (``.cfa``, ``.ra``, ``$ebx`` ...) and the names
    whose rules failed (an unreadable saved register is unknown, not fatal; a failed ``.cfa``
    or ``.ra`` raises, since no caller can be built without them).
    """
    variables = {(name if name.startswith(("$", ".")) else f"${name}"): value
                 for name, value in registers.items()}
    evaluator = PostfixEvaluator(variables, read, pointer_size)
    if ".cfa" not in rules or ".ra" not in rules:
        raise PostfixError("CFI rule set lacks .cfa or .ra")
    cfa = evaluator.evaluate_for_value(rules[".cfa"])
    evaluator.variables[".cfa"] = cfa
    out = {".cfa": cfa, ".ra": evaluator.evaluate_for_value(rules[".ra"])}
    failed: List[str] = []
    for name, expression in rules.items():
        if name in (".cfa", ".ra"):
            continue
        try:
            out[name] = evaluator.evaluate_for_value(expression)
        except PostfixError:
            failed.append(name)
    return out, failed


__all__ = ["PostfixError", "PostfixEvaluator", "parse_cfi_rules", "evaluate_cfi"]

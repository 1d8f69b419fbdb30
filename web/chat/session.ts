/** The signed-in user's token, kept in localStorage so that a reload resumes where the user was. */
const TOKEN_KEY = 'chat.token';

export const session = {
  token(): string | null {
    return localStorage.getItem(TOKEN_KEY);
  },
  save(token: string): void {
    localStorage.setItem(TOKEN_KEY, token);
  },
  clear(): void {
    localStorage.removeItem(TOKEN_KEY);
  },
};
